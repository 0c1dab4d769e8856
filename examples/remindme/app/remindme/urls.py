from django.urls import path

from reminders import views

urlpatterns = [
    path("", views.index),
    path("reminders", views.reminders),
    path("now", views.now),
]
