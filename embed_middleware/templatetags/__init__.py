"""Django template tags: add ``"embed_middleware"`` to ``INSTALLED_APPS``, then ``{% load embed %}``."""
