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
    ]
