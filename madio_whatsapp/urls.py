from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from chat.api import ERRORS, ErrorOutput
from integrations import observability

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:page", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("links.urls")),
    path("", include("integrations.urls")),
]

# --- REST API, JWT, API docs, health and metrics --------------------------
_UNREADABLE = OpenApiResponse(ErrorOutput, description="The body is neither JSON nor a form this API can read.")
_LOCKED_OUT = OpenApiResponse(
    ErrorOutput, description="Too many failed logins for this username from this address (see Retry-After)."
)


def _documented(view, serializer, errors=None):
    """The token views' answers besides 200, in the API's error shape, checked by schemathesis."""
    responses = {200: serializer, 400: ERRORS[400], 401: ERRORS[401], 415: _UNREADABLE, 429: ERRORS[429]}
    responses.update(errors or {})
    return extend_schema_view(post=extend_schema(responses=responses))(view)


urlpatterns += [
    path(
        "api/auth/token",
        _documented(TokenObtainPairView, jwt_serializers.TokenObtainPairSerializer, {429: _LOCKED_OUT}).as_view(),
        name="token_obtain",
    ),
    path(
        "api/auth/token/refresh",
        _documented(TokenRefreshView, jwt_serializers.TokenRefreshSerializer).as_view(),
        name="token_refresh",
    ),
    path(
        "api/auth/token/blacklist",
        _documented(TokenBlacklistView, jwt_serializers.TokenBlacklistSerializer).as_view(),
        name="token_blacklist",
    ),
    path("api/whatsapp/", include("madio_whatsapp.api_urls")),
    path("api/health", observability.health, name="health"),
    path("metrics", observability.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start-up script comes from /docs?script (no inline script); its page and
    # widgets use inline styles, allowed on this page only.
    path(
        "docs",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="docs",
    ),
]
# Unknown /api/ addresses and crashes there answer JSON too (in production, where DEBUG is off).
handler404 = "chat.api_errors.not_found"
handler500 = "chat.api_errors.server_error"
