import os

from django.core.wsgi import get_wsgi_application

from greenai_site.startup import freeze_loaded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greenai_site.settings")
application = get_wsgi_application()
freeze_loaded()
