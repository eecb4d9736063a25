from django.contrib import admin

from integrations.models import WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "received_at", "processed_at", "has_error", "signed")
    list_filter = (("received_at", admin.DateFieldListFilter), ("processed_at", admin.EmptyFieldListFilter), "signed")
    search_fields = ("processing_error",)
    fields = ("received_at", "processed_at", "signed", "processing_error", "notes", "body_text")
    readonly_fields = fields
    date_hierarchy = "received_at"
    show_full_result_count = False

    @admin.display(boolean=True, description="Error")
    def has_error(self, obj):
        return bool(obj.processing_error)

    @admin.display(description="Raw body")
    def body_text(self, obj):
        return obj.body_text

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
