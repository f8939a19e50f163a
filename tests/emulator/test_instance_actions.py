"""CreateInstance, QueryInstance and ListInstance over the same state as DeleteInstance."""

from __future__ import annotations

import pytest
from alibabacloud_cams20200606 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import ExtendsParameters, RuntimeOptions

from cams_emulator import NOT_FOUND_CODE


def create(sdk, name="demo", channel="whatsapp", instance_id=None):
    runtime = RuntimeOptions()
    if instance_id is not None:
        # Not an SDK parameter: extends_parameters adds it to the signed query.
        runtime = RuntimeOptions(
            extends_parameters=ExtendsParameters(queries={"InstanceId": instance_id})
        )
    request = models.CreateInstanceRequest(
        instance_name=name, channel_type=channel, instance_description="made by a test"
    )
    return sdk.call("create_instance", request, runtime)


def test_create_then_query_then_delete_a_new_instance(emulator, sdk):
    # GIVEN a created instance with a generated id
    created = create(sdk)
    assert created.body.code == "OK"
    assert created.body.success is True
    instance_id = created.body.data.instance_id
    assert instance_id.startswith("cams-")
    assert created.body.data.instance_name == "demo"
    assert created.body.data.channel_type == "whatsapp"
    assert created.body.data.submit_time
    # WHEN it is queried
    queried = sdk.call("query_instance", models.QueryInstanceRequest(instance_id=instance_id))
    # THEN the emulator knows it
    assert queried.body.code == "OK"
    assert queried.body.data.instance_id == instance_id
    assert queried.body.data.instance_description == "made by a test"
    # AND a delete removes it, after which a query is not found
    assert sdk.delete(instance_id).body.code == "OK"
    gone = sdk.call("query_instance", models.QueryInstanceRequest(instance_id=instance_id))
    assert (gone.body.code, gone.body.success) == (NOT_FOUND_CODE, False)
    assert instance_id not in emulator.instances()


def test_create_with_a_chosen_id_and_a_duplicate(emulator, sdk):
    # GIVEN a create that names its id
    first = create(sdk, instance_id="chosen-1")
    assert first.body.data.instance_id == "chosen-1"
    assert "chosen-1" in emulator.instances()
    # WHEN the same id is created again
    again = create(sdk, instance_id="chosen-1")
    # THEN a business failure (200, Success false), state unchanged
    assert again.status_code == 200
    assert (again.body.code, again.body.success) == ("InstanceId.AlreadyExists", False)


def test_create_without_required_parameters_is_missing_parameter(sdk):
    # GIVEN a create without InstanceName (the SDK marks it required, but sends what it has)
    # WHEN it is sent
    with pytest.raises(ClientException) as caught:
        sdk.call("create_instance", models.CreateInstanceRequest(channel_type="whatsapp"))
    # THEN MissingParameter
    assert (caught.value.status_code, caught.value.code) == (400, "MissingParameter")


def test_list_pages_and_filters_over_the_state(emulator, sdk):
    # GIVEN the three seeded instances and one created on another channel
    create(sdk, name="other", channel="messenger", instance_id="m-1")
    # WHEN all are listed, two per page
    page1 = sdk.call("list_instance", models.ListInstanceRequest(page_index=1, page_size=2))
    page2 = sdk.call("list_instance", models.ListInstanceRequest(page_index=2, page_size=2))
    # THEN TotalCount counts them all and the pages split them in creation order
    assert page1.body.total_count == page2.body.total_count == 4
    assert [d.instance_id for d in page1.body.data] == ["i-1", "i-2"]
    assert [d.instance_id for d in page2.body.data] == ["i-3", "m-1"]
    assert page1.body.data[0].cust_space_id == "i-1"
    # AND filters narrow the list
    by_channel = sdk.call("list_instance", models.ListInstanceRequest(channel_type="messenger"))
    assert [d.instance_id for d in by_channel.body.data] == ["m-1"]
    by_id = sdk.call("list_instance", models.ListInstanceRequest(instance_id="i-2"))
    assert [d.instance_id for d in by_id.body.data] == ["i-2"]
    # AND a deleted instance is no longer listed
    sdk.delete("i-1")
    after = sdk.call("list_instance", models.ListInstanceRequest(page_size=10))
    assert [d.instance_id for d in after.body.data] == ["i-2", "i-3", "m-1"]


def test_list_with_a_bad_page_number_is_invalid_parameter(sdk):
    # GIVEN a page index of 0
    # WHEN listed
    with pytest.raises(ClientException) as caught:
        sdk.call("list_instance", models.ListInstanceRequest(page_index=0))
    # THEN the gateway refuses it
    assert (caught.value.status_code, caught.value.code) == (400, "InvalidParameter")
