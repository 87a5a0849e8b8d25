"""Template fragment caching for template engines.

``cachemere.templates.jinja.CacheExtension`` is the Jinja2 ``{% cache %}`` tag
(``pip install 'cachemere[jinja]'``); the key it stores under is
:func:`cachemere.fragments.make_template_fragment_key`.  Importing this package
imports no template engine.
"""
