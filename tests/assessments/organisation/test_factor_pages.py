"""Sites and hardware models are created and edited on pages by admins only; each change is
recorded (who, when, before, after) and shown on the methodology page; a refused form is a 400
naming the field and stores nothing; loading an inventory records its changes too."""

from textwrap import dedent

import pytest
from django.urls import reverse

from assessments.models import FactorChange, HardwareModel, Site, UserProfile
from assessments.organisation.factor_changes import changed_values
from assessments.organisation.inventory import inventory_load
from tests.assessments.dashboards import page_factories as pf

Role = UserProfile.Role


@pytest.fixture
def world(db):
    return pf.make_world()


def _login(client, role):
    user = pf.make_user(f"user-{role}", role)
    client.force_login(user)
    return user


def _site_data(**changes):
    data = {
        "name": "lyon-dc2",
        "grid_zone": "FRA",
        "pue": "1.4",
        "pue_min": "",
        "pue_max": "",
        "pue_source": "Operator's 2025 report",
        "grid_uncertainty_pct": "",
        "energy_price_per_kwh": "0.2",
        "price_min": "",
        "price_max": "",
        "price_source": "Contract 2026",
    }
    data.update(changes)
    return data


def _gpu_data(**changes):
    data = {
        "kind": "gpu",
        "name": "Lab GPU 48GB",
        "embodied_kgco2e": "300",
        "min_kgco2e": "200",
        "max_kgco2e": "450",
        "lifetime_years": "4",
        "lifetime_years_min": "",
        "lifetime_years_max": "",
        "source": "Vendor PCF 2025",
        "nvml_names": "",
    }
    data.update(changes)
    return data


# --- Pure helpers ------------------------------------------------------------------------------


def test_changed_values_keeps_only_what_differs():
    assert changed_values({"pue": 1.3, "name": "a"}, {"pue": 1.4, "name": "a"}) == (
        {"pue": 1.3},
        {"pue": 1.4},
    )
    assert changed_values({"pue": 1.3}, {"pue": 1.3}) == ({}, {})


# --- Permissions -------------------------------------------------------------------------------


def _pages(world):
    gpu = HardwareModel.objects.get(name="Test GPU 80GB")
    return {
        "add site": (reverse("site_create"), _site_data()),
        "edit site": (reverse("site_edit", args=[world.site.pk]), _site_data(name="paris-dc1")),
        "add hardware model": (reverse("hardware_model_create"), _gpu_data()),
        "edit hardware model": (
            reverse("hardware_model_edit", args=[gpu.pk]),
            _gpu_data(name=gpu.name, embodied_kgco2e="160", min_kgco2e="", max_kgco2e=""),
        ),
    }


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_engineers_and_viewers_get_403_and_nothing_changes(client, world, role):
    _login(client, role)
    for name, (url, data) in _pages(world).items():
        assert client.get(url).status_code == 403, name
        assert client.post(url, data).status_code == 403, name
    assert not Site.objects.filter(name="lyon-dc2").exists()
    assert not HardwareModel.objects.filter(name="Lab GPU 48GB").exists()
    assert HardwareModel.objects.get(name="Test GPU 80GB").embodied_kgco2e == 150.0
    world.site.refresh_from_db()
    assert world.site.pue == pf.PUE
    assert not FactorChange.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client, world):
    for url, data in _pages(world).values():
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not FactorChange.objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_only_admins_see_the_edit_links(client, world, role):
    _login(client, role)
    page = client.get(reverse("methodology")).content.decode()
    assert reverse("site_edit", args=[world.site.pk]) not in page
    assert reverse("site_create") not in page
    assert reverse("hardware_model_create") not in page

    client.logout()
    _login(client, Role.ADMIN)
    page = client.get(reverse("methodology")).content.decode()
    assert reverse("site_edit", args=[world.site.pk]) in page
    assert reverse("site_create") in page
    assert reverse("hardware_model_create") in page


# --- Admin edits and the change log ------------------------------------------------------------


def test_admin_creates_a_site_and_the_creation_is_recorded(client, world):
    admin = _login(client, Role.ADMIN)
    response = client.post(reverse("site_create"), _site_data())
    assert response.status_code == 302
    site = Site.objects.get(name="lyon-dc2")
    assert (site.pue, site.energy_price_per_kwh) == (1.4, 0.2)
    change = FactorChange.objects.get()
    assert (change.object_kind, change.object_id, change.action) == ("site", site.pk, "created")
    assert change.changed_by == admin and change.changed_by_label == admin.username
    assert change.before == {} and change.after["pue"] == 1.4


def test_admin_edit_records_who_and_before_and_after_of_changed_fields_only(client, world):
    admin = _login(client, Role.ADMIN)
    url = reverse("site_edit", args=[world.site.pk])
    data = _site_data(name="paris-dc1", pue="1.5", energy_price_per_kwh=str(pf.PRICE))
    data["pue_source"] = "Test PUE"
    data["price_source"] = ""
    assert client.post(url, data).status_code == 302
    change = FactorChange.objects.get()
    assert change.changed_by == admin
    assert change.before == {"pue": pf.PUE}
    assert change.after == {"pue": 1.5}

    page = client.get(reverse("methodology")).content.decode()
    section = page[page.index('id="factor-changes"') :]
    assert admin.username in section
    assert f"pue: {pf.PUE:g} → 1.5" in section
    assert change.changed_at.strftime("%Y-%m-%d %H:%M") in section


def test_saving_an_unchanged_form_records_nothing(client, world):
    _login(client, Role.ADMIN)
    gpu = HardwareModel.objects.get(name="Test GPU 80GB")
    data = _gpu_data(
        name=gpu.name, embodied_kgco2e="150", min_kgco2e="", max_kgco2e="", source=gpu.source
    )
    assert client.post(reverse("hardware_model_edit", args=[gpu.pk]), data).status_code == 302
    assert not FactorChange.objects.exists()


def test_admin_edits_a_hardware_model_bounds(client, world):
    _login(client, Role.ADMIN)
    gpu = HardwareModel.objects.get(name="Test GPU 80GB")
    data = _gpu_data(
        name=gpu.name,
        embodied_kgco2e="150",
        min_kgco2e="100",
        max_kgco2e="240",
        lifetime_years_min="3",
        lifetime_years_max="6",
    )
    assert client.post(reverse("hardware_model_edit", args=[gpu.pk]), data).status_code == 302
    gpu.refresh_from_db()
    assert (gpu.min_kgco2e, gpu.max_kgco2e) == (100, 240)
    assert (gpu.lifetime_years_min, gpu.lifetime_years_max) == (3, 6)
    change = FactorChange.objects.get()
    assert change.before["min_kgco2e"] is None and change.after["max_kgco2e"] == 240
    assert change.after["lifetime_years_max"] == 6


def test_admin_sets_a_site_pue_grid_and_price_bounds(client, world):
    _login(client, Role.ADMIN)
    data = _site_data(
        name="paris-dc1",
        pue=str(pf.PUE),
        pue_min="1.2",
        pue_max="1.5",
        grid_uncertainty_pct="10",
        energy_price_per_kwh=str(pf.PRICE),
        price_min="0.1",
        price_max="0.3",
    )
    assert client.post(reverse("site_edit", args=[world.site.pk]), data).status_code == 302
    world.site.refresh_from_db()
    assert (world.site.pue_min, world.site.pue_max, world.site.grid_uncertainty_pct) == (
        1.2,
        1.5,
        10,
    )
    change = FactorChange.objects.get()
    assert change.after["pue_min"] == 1.2 and change.before["pue_min"] is None


# --- Refused forms: 400 naming the field, nothing stored ---------------------------------------

SITE_FAILURES = {
    "pue below 1": ({"pue": "0.9"}, "pue", "must be at least 1"),
    "negative price": ({"energy_price_per_kwh": "-0.1"}, "energy_price_per_kwh", "at least 0"),
    "unknown zone": ({"grid_zone": "XXX"}, "grid_zone", "unknown grid zone"),
    "not a number": ({"pue": "high"}, "pue", "Enter a number"),
    "infinite": ({"pue": "inf"}, "pue", "Enter a number"),
    "missing name": ({"name": ""}, "name", "required"),
    "name too long": ({"name": "x" * 101}, "name", "at most 100"),
    "duplicate name": ({"name": "paris-dc1"}, "name", "already exists"),
    "pue min above pue": ({"pue_min": "1.5"}, "pue_min", "must be <= pue"),
    "pue max below pue": ({"pue_max": "1.3"}, "pue_max", "must be >= pue"),
    "pue bound without pue": ({"pue": "", "pue_min": "1.2"}, "pue_min", "needs pue"),
    "price max below price": ({"price_max": "0.1"}, "price_max", "must be >= energy_price"),
    "negative price bound": ({"price_min": "-1"}, "price_min", "must be >= 0"),
    "grid pct of 100": ({"grid_uncertainty_pct": "100"}, "grid_uncertainty_pct", "percentage"),
    "negative grid pct": ({"grid_uncertainty_pct": "-5"}, "grid_uncertainty_pct", "percentage"),
}


@pytest.mark.parametrize("failure", list(SITE_FAILURES))
def test_a_refused_site_is_a_400_naming_the_field_and_stores_nothing(client, world, failure):
    changes, field, message = SITE_FAILURES[failure]
    _login(client, Role.ADMIN)
    response = client.post(reverse("site_create"), _site_data(**changes))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors and message in " ".join(form.errors[field])
    assert Site.objects.count() == 1
    assert not FactorChange.objects.exists()


GPU_FAILURES = {
    "min above value": ({"min_kgco2e": "310"}, "min_kgco2e", "must be <= embodied"),
    "max below value": ({"max_kgco2e": "290"}, "max_kgco2e", "must be >= embodied"),
    "negative value": ({"embodied_kgco2e": "-1", "min_kgco2e": ""}, "embodied_kgco2e", "at least"),
    "negative bound": ({"min_kgco2e": "-5"}, "min_kgco2e", "must be >= 0"),
    "lifetime min above": ({"lifetime_years_min": "5"}, "lifetime_years_min", "must be <= life"),
    "lifetime max below": ({"lifetime_years_max": "3"}, "lifetime_years_max", "must be >= life"),
    "zero lifetime bound": ({"lifetime_years_min": "0"}, "lifetime_years_min", "must be > 0"),
    "zero lifetime": ({"lifetime_years": "0"}, "lifetime_years", "above 0"),
    "unknown kind": ({"kind": "tpu"}, "kind", "valid choice"),
    "missing source": ({"source": ""}, "source", "required"),
}


@pytest.mark.parametrize("failure", list(GPU_FAILURES))
def test_a_refused_hardware_model_is_a_400_naming_the_field(client, world, failure):
    changes, field, message = GPU_FAILURES[failure]
    _login(client, Role.ADMIN)
    gpu = HardwareModel.objects.get(name="Test GPU 80GB")
    url = reverse("hardware_model_edit", args=[gpu.pk])
    response = client.post(url, _gpu_data(name=gpu.name, **changes))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors and message in " ".join(form.errors[field])
    gpu.refresh_from_db()
    assert (gpu.embodied_kgco2e, gpu.min_kgco2e, gpu.lifetime_years) == (150.0, None, 4)
    assert not FactorChange.objects.exists()


def test_a_duplicate_hardware_model_is_refused(client, world):
    _login(client, Role.ADMIN)
    response = client.post(reverse("hardware_model_create"), _gpu_data(name="Test GPU 80GB"))
    assert response.status_code == 400
    assert HardwareModel.objects.filter(name="Test GPU 80GB").count() == 1


def test_editing_a_missing_object_is_a_404(client, world):
    _login(client, Role.ADMIN)
    assert client.get(reverse("site_edit", args=[99999])).status_code == 404
    assert client.get(reverse("hardware_model_edit", args=[99999])).status_code == 404


# --- Inventory loads are recorded too ----------------------------------------------------------


def test_loading_an_inventory_records_its_factor_changes_and_a_reload_records_none(world):
    text = dedent(
        """
        sites:
          - {name: paris-dc1, grid_zone: FRA, pue: 1.25}
          - {name: berlin-dc1, grid_zone: FRA, pue: 1.3}
        gpu_models:
          - {name: "Test GPU 80GB", embodied_kgco2e: 180, lifetime_years: 4}
        """
    )
    inventory_load(text=text, file_name="sites.yaml")
    changes = {c.object_name: c for c in FactorChange.objects.all()}
    assert set(changes) == {"paris-dc1", "berlin-dc1", "Test GPU 80GB"}
    assert changes["paris-dc1"].changed_by is None
    assert changes["paris-dc1"].changed_by_label == "inventory file sites.yaml"
    assert changes["paris-dc1"].before["pue"] == pf.PUE
    assert changes["paris-dc1"].after["pue"] == 1.25
    assert changes["berlin-dc1"].action == "created"
    assert changes["Test GPU 80GB"].before["embodied_kgco2e"] == 150.0
    assert changes["Test GPU 80GB"].after["embodied_kgco2e"] == 180

    inventory_load(text=text, file_name="sites.yaml")
    assert FactorChange.objects.count() == 3


def test_a_dry_run_records_nothing(world):
    inventory_load(
        text="sites:\n  - {name: paris-dc1, grid_zone: FRA, pue: 1.9}\n",
        file_name="x.yaml",
        dry_run=True,
    )
    assert not FactorChange.objects.exists()


def test_an_edit_in_the_django_admin_is_recorded(admin_client, world):
    url = reverse("admin:assessments_site_change", args=[world.site.pk])
    data = {
        "name": "paris-dc1",
        "grid_zone": "FRA",
        "pue": "1.45",
        "pue_min": "",
        "pue_max": "",
        "grid_uncertainty_pct": "",
        "pue_source": "Test PUE",
        "energy_price_per_kwh": str(pf.PRICE),
        "price_min": "",
        "price_max": "",
        "price_source": "",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    change = FactorChange.objects.get()
    assert change.changed_by_label == "admin"
    assert (change.before, change.after) == ({"pue": pf.PUE}, {"pue": 1.45})


def test_the_methodology_page_shows_each_sites_factors_with_their_bounds(client, world):
    Site.objects.filter(pk=world.site.pk).update(pue_min=1.2, pue_max=1.5, grid_uncertainty_pct=10)
    _login(client, Role.VIEWER)
    page = client.get(reverse("methodology")).content.decode()
    assert f"{pf.PUE:.2f} (1.20–1.50)" in page
    grid = pf.GRID
    assert f"{grid:,.1f} ({grid * 0.9:,.1f}–{grid * 1.1:,.1f})" in page
    # The shipped bounds of the defaults and of measured energy, with their sources.
    assert "1.56 (1.1 to 2.5)" in page
    assert "Measured energy: GPU through NVML" in page and "-5 % to +5 %" in page
    assert "NVML API Reference" in page


def test_new_values_on_a_shipped_row_need_their_own_source(client, world):
    from assessments.organisation.reference_data import shipped_hardware

    _login(client, Role.ADMIN)
    row = next(r for r in shipped_hardware() if r.name == "NVIDIA L4")
    model = HardwareModel.objects.get(kind="gpu", name="NVIDIA L4")
    url = reverse("hardware_model_edit", args=[model.pk])
    data = _gpu_data(
        name=model.name,
        embodied_kgco2e="130",
        min_kgco2e=str(row.min_kgco2e),
        max_kgco2e=str(row.max_kgco2e),
        lifetime_years=str(row.lifetime_years),
        lifetime_years_min=str(row.lifetime_years_min),
        lifetime_years_max=str(row.lifetime_years_max),
        source=row.source,
    )
    response = client.post(url, data)
    assert response.status_code == 400
    assert "shipped source" in " ".join(response.context["form"].errors["source"])
    model.refresh_from_db()
    assert model.embodied_kgco2e == row.embodied_kgco2e and not FactorChange.objects.exists()

    data["source"] = "Our supplier's PCF, 2026"
    assert client.post(url, data).status_code == 302
    model.refresh_from_db()
    assert (model.embodied_kgco2e, model.source) == (130, "Our supplier's PCF, 2026")


def test_a_name_taken_meanwhile_is_a_400_naming_the_field(client, world, monkeypatch):
    from django.db import IntegrityError

    from assessments.organisation import views

    def taken(**kwargs):
        raise IntegrityError("UNIQUE constraint failed: assessments_site.name")

    monkeypatch.setattr(views, "factor_object_save", taken)
    _login(client, Role.ADMIN)
    response = client.post(reverse("site_create"), _site_data())
    assert response.status_code == 400
    assert "exists already" in " ".join(response.context["form"].errors["name"])
    assert not Site.objects.filter(name="lyon-dc2").exists()
