from datetime import timedelta
from html import escape

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from .models import Reminder

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>remindme</title></head>
<body>
<h1>remindme</h1>
<form method="post" action="/">
  <label>Email <input id="email" name="email" type="email" required></label>
  <label>What <input id="text" name="text" required></label>
  <label>In how many days <input id="days" name="days" type="number" value="30" min="0"></label>
  <button id="save" type="submit">Remind me</button>
</form>
<p id="status">{status}</p>
</body></html>
"""


@csrf_exempt
@require_http_methods(["GET", "POST"])
def index(request):
    if request.method == "GET":
        return HttpResponse(PAGE.format(status=""))
    email = request.POST.get("email", "").strip()
    text = request.POST.get("text", "").strip()
    try:
        days = int(request.POST.get("days", "30"))
    except ValueError:
        days = -1
    if "@" not in email or not text or days < 0:
        return HttpResponse(PAGE.format(status="Please fill in every field."), status=400)
    reminder = Reminder.objects.create(
        email=email, text=text, due_at=timezone.now() + timedelta(days=days)
    )
    status = f"Saved: {escape(text)}, due {reminder.due_at:%Y-%m-%d}."
    return HttpResponse(PAGE.format(status=status), status=201)


@require_GET
def reminders(request):
    return JsonResponse(
        {
            "reminders": [
                {
                    "email": r.email,
                    "text": r.text,
                    "due_at": r.due_at.isoformat(),
                    "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                }
                for r in Reminder.objects.all()
            ]
        }
    )


@require_GET
def now(request):
    return JsonResponse({"now": timezone.now().isoformat()})
