from django.db import migrations, models

import sites.models


def fill_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    site_model = apps.get_model("tenants", "Site")
    for site in site_model.objects.filter(public_key=""):
        site.public_key = sites.models.site_public_key_new()
        site.identity_secret = sites.models.site_identity_secret_new()
        site.save(update_fields=["public_key", "identity_secret"])


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_live_translation")]

    operations = [
        migrations.AddField(
            model_name="site",
            name="public_key",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="site",
            name="identity_secret",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="site",
            name="public_key",
            field=models.CharField(
                default=sites.models.site_public_key_new, max_length=64, unique=True
            ),
        ),
        migrations.AlterField(
            model_name="site",
            name="identity_secret",
            field=models.CharField(default=sites.models.site_identity_secret_new, max_length=64),
        ),
        migrations.AddField(
            model_name="site",
            name="allow_anonymous",
            field=models.BooleanField(
                default=True, help_text="Visitors without a verified identity may chat."
            ),
        ),
        migrations.AddField(
            model_name="site",
            name="greeting",
            field=models.CharField(
                blank=True, help_text="The widget's first line (blank: a default).", max_length=300
            ),
        ),
        migrations.AddField(
            model_name="site",
            name="color",
            field=models.CharField(default="#2563eb", help_text="e.g. #2563eb", max_length=16),
        ),
        migrations.AddField(
            model_name="site", name="logo_url", field=models.URLField(blank=True)
        ),
        migrations.AddField(
            model_name="site",
            name="language",
            field=models.CharField(
                blank=True,
                help_text="en or zh; blank: the visitor's browser language.",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="site",
            name="position",
            field=models.CharField(
                choices=[("right", "right"), ("left", "left")], default="right", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="site",
            name="daily_message_quota",
            field=models.PositiveIntegerField(
                default=0, help_text="Visitor messages a day across the site (0: no quota)."
            ),
        ),
    ]
