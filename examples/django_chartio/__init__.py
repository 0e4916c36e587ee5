"""The Chartio "embedded dashboards" guide as a small Django project, with no token code in its views.

In the guide the view builds the payload itself (``env`` from a Django form's ``cleaned_data``, plus
``ACCT_ID`` from the session so the user cannot change it), signs it and writes the iframe. Here the
template writes ``<iframe src=".../d/38727/{% embed_placeholder "flights" %}">`` and
``embed_middleware.django.EmbedMiddleware`` puts a fresh token there as the page leaves Django:

* ``embed.py``: the resolver (the logged-in user's tenant, ``ACCT_ID`` from the session locked in
  ``Tenant.locked_claims``, which always win) and the issuer (``ChartioProfile``, ``env`` from the form);
* ``chartio.py``: a stand-in for embed.chartio.com that trusts only the signed token;
* ``views.py``: log in as a user of one tenant, the dashboard page with its filter form, log out.

``python -m examples.django_chartio [--port 5171]`` serves it on 127.0.0.1.
"""
