from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:page", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("links.urls")),
    path("", include("integrations.urls")),
]

# --- REST API, JWT, API docs, health and metrics (issue 6) --------------------------
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView  # noqa: E402
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView  # noqa: E402

from integrations import observability  # noqa: E402

urlpatterns += [
    path("api/auth/token", TokenObtainPairView.as_view(), name="token_obtain"),
    path("api/auth/token/refresh", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/auth/token/blacklist", TokenBlacklistView.as_view(), name="token_blacklist"),
    path("api/whatsapp/", include("chat.api_urls")),
    path("api/health", observability.health, name="health"),
    path("metrics", observability.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
# Unknown /api/ addresses and crashes there answer JSON too (in production, where DEBUG is off).
handler404 = "chat.api_errors.not_found"
handler500 = "chat.api_errors.server_error"
