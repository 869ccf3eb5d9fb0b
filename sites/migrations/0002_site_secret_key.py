from django.db import migrations, models

import sites.models


def fill_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    site_model = apps.get_model("tenants", "Site")
    for site in site_model.objects.filter(secret_key=""):
        site.secret_key = sites.models.site_key_new()
        site.save(update_fields=["secret_key"])


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="site",
            name="secret_key",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="site",
            name="secret_key",
            field=models.CharField(default=sites.models.site_key_new, max_length=64, unique=True),
        ),
    ]
