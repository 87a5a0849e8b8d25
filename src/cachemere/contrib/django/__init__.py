"""Django integration: add ``"cachemere.contrib.django"`` to ``INSTALLED_APPS``.

cachemere's backends work in a Django project's ``CACHES`` without this app
(docs/django.md); the app adds ``manage.py createcachetable`` for cachemere's
database caches, system checks for cachemere caches (ids ``cachemere.E...``
and ``cachemere.W...``) and ``manage.py cachemere_check``.
"""
