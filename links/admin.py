from django.contrib import admin

from links.models import EntityLink


@admin.register(EntityLink)
class EntityLinkAdmin(admin.ModelAdmin):
    list_display = ("entity_type", "entity_id", "message", "created_by", "created_at")
    list_filter = ("entity_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("entity_id", "message__other_party", "message__message_body", "message__whatsapp_message_id")
    raw_id_fields = ("message", "created_by")
    list_select_related = ("message", "created_by")
