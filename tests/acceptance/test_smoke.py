from revox import Revox


def test_health_and_first_call_through_the_official_sdk(sdk_env):
    client = Revox()
    call = client.call.create(phone_number="+12025550100", assistant={"prompt": "Say hello"}).call
    assert call.to_phone_number == "+12025550100"
    assert client.call.retrieve(call.id).call.id == call.id
