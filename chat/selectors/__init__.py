"""Reads for the chat page and the API, one module per entity: conversations, messages, templates, stats.

Entity links' reads live in links.selectors.
"""
