from django.contrib import admin

from chat.models import Conversation, Message, MessageTemplate
from links.models import EntityLink


class EntityLinkInline(admin.TabularInline):
    model = EntityLink
    extra = 0
    fields = ("entity_type", "entity_id", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("display_name", "other_party", "wa_user_id", "unread_count", "last_message_at", "last_inbound_at")
    search_fields = ("other_party", "wa_user_id", "contact_name")
    list_filter = (("last_message_at", admin.DateFieldListFilter),)
    readonly_fields = ("created_at", "updated_at", "last_message_at", "last_message_preview", "last_inbound_at")
    ordering = ("-last_message_at",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "other_party", "direction", "message_type", "status", "short_body", "created_at")
    list_filter = ("direction", "message_type", "status", "sharepoint_state", ("created_at", admin.DateFieldListFilter))
    search_fields = (
        "other_party",
        "from_phone",
        "to_phone",
        "conversation__contact_name",
        "message_body",
        "whatsapp_message_id",
    )
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation", "from_user", "retry_of")
    readonly_fields = (
        "whatsapp_message_id",
        "data",
        "created_at",
        "updated_at",
        "sent_at",
        "delivered_at",
        "seen_at",
        "failed_at",
    )
    inlines = [EntityLinkInline]
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) over years of history on every page

    @admin.display(description="Body")
    def short_body(self, obj):
        text = obj.message_body or obj.caption
        return text[:80] + ("…" if len(text) > 80 else "")

    # SharePoint backup (integrations.sharepoint_backup): failed uploads can be tried again.
    actions = ["retry_sharepoint_backup"]

    @admin.action(description="Back up the selected messages' files to SharePoint again")
    def retry_sharepoint_backup(self, request, queryset):
        from django.conf import settings

        from integrations.sharepoint_backup import sharepoint_backup_retry

        if not settings.SHAREPOINT_ENABLED:
            self.message_user(
                request, "SharePoint backup is off: its four SHAREPOINT_* settings are not set.", "warning"
            )
            return
        count = sharepoint_backup_retry(messages=queryset.exclude(file="").exclude(sharepoint_state="uploaded"))
        self.message_user(request, f"{count} backup{'s' if count != 1 else ''} queued.")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "language", "status", "category", "synced_at")
    list_filter = ("status", "category", "language")
    search_fields = ("name",)
    readonly_fields = ("components", "synced_at", "whatsapp_id")
