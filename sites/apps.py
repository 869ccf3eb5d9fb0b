from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "sites"
    label = "tenants"  # "sites" is taken by django.contrib.sites
    verbose_name = "Sites"
