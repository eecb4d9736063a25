from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_POST

from chat.errors import describe_send_error
from chat.models import Agent, CannedResponse, Conversation, Label, Message, MessageTemplate, Team
from chat.services import SendRefused, message_retry
from chat.services.conversations import conversation_delete, conversations_delete
from chat.services.inbox import conversation_assign, conversation_set_status, label_save, labels_delete
from integrations.sharepoint_backup import sharepoint_backup_retry
from integrations.templates import templates_sync
from integrations.whatsapp import WhatsAppError
from links.models import EntityLink


class EntityLinkInline(admin.TabularInline):
    model = EntityLink
    extra = 0
    fields = ("entity_type", "entity_id", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "display_name",
        "other_party",
        "wa_user_id",
        "status",
        "assignee",
        "team",
        "unread_count",
        "last_message_at",
        "last_inbound_at",
    )
    search_fields = ("other_party", "wa_user_id", "staff_name", "contact_name")
    list_filter = ("status", "team", "assignee", "labels", ("last_message_at", admin.DateFieldListFilter))
    list_select_related = ("assignee", "team")
    actions = ["resolve", "reopen", "unassign"]
    # Owner, status, labels and the staff's name for the contact change through chat.services.inbox (the
    # actions below, the page, the API), so each change leaves its activity line and moves the poll's change mark.
    readonly_fields = (
        "staff_name",
        "labels",
        "status",
        "snoozed_until",
        "assignee",
        "team",
        "created_at",
        "updated_at",
        "last_message_at",
        "last_message_preview",
        "last_inbound_at",
        "last_created_at",
    )
    ordering = ("-last_message_at",)

    @admin.action(description="Resolve the selected conversations")
    def resolve(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda chat: conversation_set_status(conversation=chat, actor=request.user, status="resolved"),
        )

    @admin.action(description="Reopen the selected conversations")
    def reopen(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda chat: conversation_set_status(conversation=chat, actor=request.user, status="open"),
        )

    @admin.action(description="Unassign the selected conversations")
    def unassign(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda chat: conversation_assign(conversation=chat, actor=request.user, assignee=None, team=chat.team),
        )

    def _each(self, request, queryset, change):
        for chat in queryset.select_related("team"):
            change(chat)
        self.message_user(request, f"{queryset.count()} conversation(s) updated.", messages.SUCCESS)

    def delete_model(self, request, obj):
        conversation_delete(conversation=obj)

    def delete_queryset(self, request, queryset):
        conversations_delete(queryset=queryset)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "other_party", "direction", "message_type", "status", "short_body", "backup", "created_at")
    list_filter = ("direction", "message_type", "status", "sharepoint_state", ("created_at", admin.DateFieldListFilter))
    search_fields = (
        "other_party",
        "from_phone",
        "to_phone",
        "conversation__staff_name",
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
        "send_started_at",
        "sharepoint_state",
        "sharepoint_item_id",
        "sharepoint_error",
        "sharepoint_retry_at",
        "media_url",
    )
    inlines = [EntityLinkInline]
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) over years of history on every page

    @admin.display(description="Body")
    def short_body(self, obj):
        text = obj.message_body or obj.caption
        return text[:80] + ("…" if len(text) > 80 else "")

    @admin.display(description="SharePoint", ordering="sharepoint_state")
    def backup(self, obj):
        if not obj.sharepoint_state:
            return "-"
        if obj.sharepoint_state == Message.BackupState.FAILED and obj.sharepoint_retry_at:
            when = date_format(timezone.localtime(obj.sharepoint_retry_at), "DATETIME_FORMAT")
            return f"Failed; tried again after {when}"
        return obj.get_sharepoint_state_display()

    # --- Outbound: resend failed messages, say why they failed ---

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "why_it_failed")

    @admin.display(description="Why it failed")
    def why_it_failed(self, obj):
        if obj.status != Message.Status.FAILED:
            return "-"
        return describe_send_error(obj.error_code, obj.error_title)

    @admin.action(description="Resend the selected failed messages (as new messages)")
    def resend_failed(self, request, queryset):
        sent, refused = 0, []
        for message in queryset.select_related("conversation").order_by("id"):
            try:
                message_retry(message=message, author=request.user)
                sent += 1
            except SendRefused as refusal:
                refused.append(f"#{message.pk}: {refusal.reason}")
        if sent:
            self.message_user(request, f"Queued {sent} message(s) again.", messages.SUCCESS)
        for reason in refused[:10]:
            self.message_user(request, reason, messages.WARNING)

    # Failed SharePoint uploads can be tried again.
    actions = ["resend_failed", "retry_sharepoint_backup"]

    @admin.action(description="Back up the selected messages' files to SharePoint again")
    def retry_sharepoint_backup(self, request, queryset):
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
    change_list_template = "admin/chat/messagetemplate/change_list.html"

    def get_urls(self):
        sync = self.admin_site.admin_view(require_POST(self.sync_view))
        return [path("sync/", sync, name="chat_messagetemplate_sync"), *super().get_urls()]

    def sync_view(self, request):
        """The "Sync from WhatsApp" button: copy the templates from WhatsApp Manager now."""
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:chat_messagetemplate_changelist"))
        try:
            count = templates_sync()
        except WhatsAppError as error:
            self.message_user(request, f"WhatsApp refused the template list: {error.title}", messages.ERROR)
        else:
            self.message_user(request, f"Synced {count} template(s) from WhatsApp.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:chat_messagetemplate_changelist"))


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "colour", "conversation_count")
    list_filter = ("colour",)
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(conversations_total=Count("conversations"))

    @admin.display(description="Conversations", ordering="conversations_total")
    def conversation_count(self, label):
        return label.conversations_total

    # Through chat.services.inbox, so the sidebar rows that show the label are redrawn.
    def save_model(self, request, obj, form, change):
        label_save(label=obj)

    def delete_model(self, request, obj):
        labels_delete(labels=Label.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        labels_delete(labels=queryset)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count", "auto_assign", "receives_new_conversations")
    search_fields = ("name",)
    filter_horizontal = ("members",)
    readonly_fields = ("last_assigned_to",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_total=Count("members"))

    @admin.display(description="Members", ordering="members_total")
    def member_count(self, team):
        return team.members_total


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    """Saved replies: staff type "/" and the shortcut in the composer (chat.canned fills the placeholders)."""

    list_display = ("shortcut", "short_text", "team")
    list_filter = ("team",)
    search_fields = ("shortcut", "text")
    list_select_related = ("team",)

    @admin.display(description="Text")
    def short_text(self, response):
        return response.text if len(response.text) <= 80 else response.text[:79] + "…"


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("user", "available", "desktop_notifications", "sound")
    list_filter = ("available",)
    search_fields = ("user__username", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
