"""Console pages for WeCom: channel codes with statistics, a guide's friends, customer groups with
the dead flag and trend, departures — and who may see them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.console.support import as_role
from tests.console.support import seed_wecom as seed
from tests.factories import World


def test_codes_friends_groups_and_departures(browser: TestClient, world: World) -> None:
    ids = seed(world)
    hq = as_role(browser, world, "hq_operator")
    codes = hq.get("/wecom/codes").text
    assert (
        "门口海报" in codes
        and '<td class="num" data-figure="adds">5</td>' in codes
        and "data-series" in codes
    )
    friends = hq.get(f"/wecom/friends?guide={world.staff['guide']}").text
    assert "好友甲" in friends and "门口海报" in friends and "poster" not in friends  # the code, by its name
    groups = hq.get("/wecom/groups").text
    assert "冷清群" in groups and 'data-flag="dead"' in groups and "group-chart" in groups
    assert hq.get(f"/wecom/groups?group={ids['group']}").status_code == 200
    assert hq.get("/wecom/groups?group=987654").status_code == 404
    departures = hq.get("/wecom/departures").text
    assert "1 位好友" in departures
    assert (
        hq.post(
            "/wecom/departures", data={"from_staff_id": str(world.staff["guide"]), "kind": "later"}
        ).status_code
        == 422
    )
    # A guide sees their own friends and groups, never HQ's code list or the departures page.
    guide = as_role(browser, world, "guide")
    assert "好友甲" in guide.get("/wecom/friends").text
    assert "冷清群" in guide.get("/wecom/groups").text
    assert guide.get("/wecom/codes").status_code == 403 and guide.get("/wecom/departures").status_code == 403
    other = as_role(browser, world, "guide2")
    assert "冷清群" not in other.get("/wecom/groups").text
    assert (
        other.get(f"/wecom/friends?guide={world.staff['guide']}").status_code == 200
    )  # their own list, not the other's
    assert "好友甲" not in other.get(f"/wecom/friends?guide={world.staff['guide']}").text
