"""The product's URLs plus one trivial JSON view: the framework's ceiling on this machine.

Mounted only by benchmarks.settings, so production never serves it.
"""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from madio_whatsapp.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def trivial(request):
    """Reads the body like the webhook does and answers a small JSON document, touching nothing else."""
    return JsonResponse({"ok": True, "received": len(request.body)})


urlpatterns = [path("bench/trivial", trivial, name="bench_trivial"), *product_urlpatterns]
