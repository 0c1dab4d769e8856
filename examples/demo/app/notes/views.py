import json
import secrets

from django.core.cache import cache
from django.core.mail import send_mail
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from .models import Note

CONFIRM_TTL = 24 * 3600  # seconds a signup token stays valid


def _param(request, name):
    """Read a parameter from the query string, a form body or a JSON body."""
    value = request.GET.get(name) or request.POST.get(name)
    if value is None and request.content_type == "application/json":
        try:
            value = json.loads(request.body or b"{}").get(name)
        except (ValueError, AttributeError):
            value = None
    return (value or "").strip()


@require_GET
def index(request):
    # The counter lives in Redis: add() creates it once, incr() is atomic.
    cache.add("hits", 0, timeout=None)
    hits = cache.incr("hits")
    return JsonResponse({"ok": True, "notes": Note.objects.count(), "hits": hits})


@require_http_methods(["GET", "POST"])
def add_note(request):
    text = _param(request, "text")
    if not text:
        return JsonResponse({"ok": False, "error": "text is required"}, status=400)
    note = Note.objects.create(text=text)
    return JsonResponse(
        {
            "ok": True,
            "id": note.id,
            "text": note.text,
            "created_at": note.created_at.isoformat(),
            "notes": Note.objects.count(),
        },
        status=201,
    )


@require_GET
def now(request):
    return JsonResponse({"now": timezone.now().isoformat()})


@require_http_methods(["GET", "POST"])
def signup(request):
    email = _param(request, "email")
    if "@" not in email:
        return JsonResponse({"ok": False, "error": "a valid email is required"}, status=400)
    token = secrets.token_urlsafe(16)
    cache.set(f"confirm:{token}", email, timeout=CONFIRM_TTL)
    link = request.build_absolute_uri(f"/confirm/{token}")
    send_mail(
        subject="Welcome",
        message=f"Welcome to the demo!\n\nConfirm your address: {link}\n",
        from_email=None,
        recipient_list=[email],
    )
    return JsonResponse({"ok": True, "email": email, "sent": True})


@require_GET
def confirm(request, token):
    email = cache.get(f"confirm:{token}")
    if email is None:
        return JsonResponse({"ok": False, "error": "unknown or expired token"}, status=404)
    cache.delete(f"confirm:{token}")
    return JsonResponse({"ok": True, "email": email, "confirmed": True})
