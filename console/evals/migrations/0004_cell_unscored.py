from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("evals", "0003_slice_scoring")]

    operations = [
        migrations.AddField(
            model_name="cell",
            name="unscored",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
