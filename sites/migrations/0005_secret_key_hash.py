import hashlib

from django.db import migrations, models

import sites.models


def keys_hashed(apps, schema_editor):  # type: ignore[no-untyped-def]
    """The keys already issued keep working: each stored key becomes its hash."""
    site_model = apps.get_model("tenants", "Site")
    for site in site_model.objects.all():
        site.secret_key_hash = hashlib.sha256(site.secret_key_hash.encode()).hexdigest()
        site.save(update_fields=["secret_key_hash"])


class Migration(migrations.Migration):
    dependencies = [("tenants", "0004_site_keys")]

    operations = [
        migrations.RenameField(model_name="site", old_name="secret_key", new_name="secret_key_hash"),
        migrations.RunPython(keys_hashed, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="site",
            name="secret_key_hash",
            field=models.CharField(
                default=sites.models.site_key_hash_new, max_length=64, unique=True
            ),
        ),
        migrations.RemoveField(model_name="site", name="daily_message_quota"),
        migrations.AddField(
            model_name="site",
            name="daily_token_quota",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Model tokens (prompt and answer) a day across the site (0: none).",
            ),
        ),
    ]
