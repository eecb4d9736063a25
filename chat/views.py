from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from chat import selectors
from chat.access import require_chat_user


@login_required
def page(request):
    require_chat_user(request.user)
    return render(request, "chat/page.html", {"conversations": selectors.conversation_list()})
