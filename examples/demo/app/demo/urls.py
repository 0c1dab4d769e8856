from django.urls import path

from notes import views

urlpatterns = [
    path("", views.index),
    path("notes", views.add_note),
    path("notes/add", views.add_note),
    path("now", views.now),
    path("signup", views.signup),
    path("confirm/<str:token>", views.confirm),
]
