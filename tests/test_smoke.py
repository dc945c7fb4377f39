def test_the_login_page_is_served(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Sign in to webchat" in response.get_data(as_text=True)
