"""The product's URLs plus one trivial JSON view: the framework's ceiling on this machine.

Mounted only by benchmarks.settings, so production never serves it.
"""

from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from chat.views import chat_user_required
from madio_whatsapp.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def trivial(request):
    """Reads the body like the webhook does and answers a small JSON document, touching nothing else."""
    return JsonResponse({"ok": True, "received": len(request.body)})


@chat_user_required
def trivial_logged_in(request):
    """Nothing, behind the chat's own login and permission check: the floor under every page request."""
    return HttpResponse(status=204)


urlpatterns = [
    path("bench/trivial", trivial, name="bench_trivial"),
    path("bench/trivial-logged-in", trivial_logged_in, name="bench_trivial_logged_in"),
    *product_urlpatterns,
]
