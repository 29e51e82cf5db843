//! The pages behind a sign-in (subscriptions, administration, the invite forms) and the
//! analytics page, in the browser: sign in with a password or a pasted token, see what the
//! test made through the API, act through the forms, and accept an invite end to end.
use reqwest::Method;
use serde_json::json;

use super::Rig;

/// Signs in on the page's form with the admin's password.
async fn sign_in_with_password(rig: &Rig) {
    let b = &rig.browser;
    b.fill("#signin-username", "admin").await;
    b.fill("#signin-password", maestro_e2e::ADMIN_PASSWORD)
        .await;
    b.click("#signin-submit").await;
}

#[tokio::test]
async fn stats_shows_the_subscriptions_to_a_signed_in_admin() {
    let Some(rig) = Rig::start("stats_shows_the_subscriptions_to_a_signed_in_admin").await else {
        return;
    };
    let (s, sub) = rig
        .admin
        .call(Method::POST, "/latest/subscribe/pages-channel", None)
        .await;
    assert_eq!(s, 200, "{sub}");
    let b = &rig.browser;
    b.open(&rig.url("/stats")).await;
    b.wait_text("#signin", "superusers").await;
    b.assert_no_errors("stats before sign-in").await;
    sign_in_with_password(&rig).await;
    let table = b.wait_text("#subs-table", "pages-channel").await;
    assert!(table.contains("admin"), "{table}");
    b.wait_text("#subs-count", "1 subscription").await;
    b.wait_text("#who", "admin").await;
    b.assert_no_errors("stats").await;

    // The token is kept: the page opens signed in, under the other prefixes too.
    b.open(&rig.url("/latest/stats")).await;
    b.wait_text("#subs-table", "pages-channel").await;
    b.assert_no_errors("stats again").await;
    rig.close().await;
}

#[tokio::test]
async fn analytics_shows_posted_telemetry_and_anomalies() {
    let Some(rig) = Rig::start("analytics_shows_posted_telemetry_and_anomalies").await else {
        return;
    };
    let mut events: Vec<_> = (0..3)
        .map(|i| {
            json!({"kind": "job_result", "runtime": "lava-pages", "device_type": "qemu-x86",
            "job_name": format!("baseline-{i}"), "result": "fail", "error_type": "Infrastructure",
            "error_msg": "boot timeout"})
        })
        .collect();
    events.push(json!({"kind": "job_result", "runtime": "k8s-pages", "device_type": "pod", "result": "pass"}));
    let (s, v) = rig
        .admin
        .call(Method::POST, "/latest/telemetry", Some(&json!(events)))
        .await;
    assert_eq!(s, 200, "{v}");
    let b = &rig.browser;
    b.open(&rig.url("/analytics")).await;
    let stats = b.wait_text("#stats-table", "lava-pages").await;
    assert!(
        stats.contains("qemu-x86") && stats.contains("k8s-pages"),
        "{stats}"
    );
    let anomalies = b.wait_text("#result-anomalies", "lava-pages").await;
    assert!(anomalies.contains("100.0 %"), "{anomalies}");
    assert!(!anomalies.contains("k8s-pages"), "{anomalies}");
    b.assert_no_errors("analytics").await;

    // The form's choices are the page's parameters.
    b.click("#g-device_type").await;
    b.click("#analytics-form button[type=submit]").await;
    b.wait_text("#stats-table", "lava-pages").await;
    let url = b.client().current_url().await.unwrap();
    assert!(
        url.query()
            .unwrap_or_default()
            .contains("group_by=runtime&"),
        "{url}"
    );
    let header = b.wait_text("#stats-table thead", "runtime").await;
    assert!(!header.contains("device_type"), "{header}");
    b.open(&rig.url("/analytics?group_by=runtime&kind=job_result&runtime=k8s-pages"))
        .await;
    let only = b.wait_text("#stats-table", "k8s-pages").await;
    assert!(!only.contains("lava-pages"), "{only}");
    b.assert_no_errors("analytics filtered").await;
    rig.close().await;
}

#[tokio::test]
async fn manage_lists_users_and_administers_groups() {
    let Some(rig) = Rig::start("manage_lists_users_and_administers_groups").await else {
        return;
    };
    let (s, g) = rig
        .admin
        .call(
            Method::POST,
            "/latest/user-groups",
            Some(&json!({"name": "existing-team"})),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    let b = &rig.browser;
    b.open(&rig.url("/manage")).await;
    // The admin's token, pasted.
    b.fill("#signin-token", rig.admin.token.as_deref().unwrap())
        .await;
    b.click("#token-form button").await;
    let users = b.wait_text("#users-table", "admin").await;
    assert!(users.contains("admin@"), "{users}");
    b.wait_text("#groups-table", "existing-team").await;

    // A group created through the form is on the page and in the store.
    b.fill("#group-name", "pages-team").await;
    b.click("#group-create").await;
    b.wait_text("#groups-table", "pages-team").await;
    b.wait_text("#groups-msg", "Created the group pages-team")
        .await;
    let listed = rig.admin.get("/latest/user-groups?name=pages-team").await;
    assert_eq!(listed["total"], 1, "{listed}");

    // Deleting asks twice, then the group is gone.
    let delete = "#groups-table tr[data-name='existing-team'] button";
    b.click(delete).await;
    b.wait_text(delete, "Really?").await;
    b.click(delete).await;
    b.wait_text("#groups-msg", "Deleted the group existing-team")
        .await;
    let listed = rig
        .admin
        .get("/latest/user-groups?name=existing-team")
        .await;
    assert_eq!(listed["total"], 0, "{listed}");
    b.assert_no_errors("manage").await;
    rig.close().await;
}

#[tokio::test]
async fn an_invite_is_sent_from_the_form_and_accepted_in_the_browser() {
    let Some(rig) = Rig::start("an_invite_is_sent_from_the_form_and_accepted_in_the_browser").await
    else {
        return;
    };
    let (s, invite) = rig
        .admin
        .call(
            Method::POST,
            "/latest/user/invite",
            Some(&json!({"username": "alice", "email": "alice@example.org",
                "send_email": false, "return_token": true})),
        )
        .await;
    assert_eq!(s, 200, "{invite}");
    let link = invite["invite_url"].as_str().unwrap();
    assert!(link.contains("/user/accept-invite?token="), "{link}");

    let b = &rig.browser;
    b.open(link).await;
    b.wait_text("#app", "alice@example.org").await;
    b.assert_no_errors("accept-invite").await;
    // Two different passwords are refused before anything is sent.
    b.fill("#accept-password", "alice-secret-1").await;
    b.fill("#accept-confirm", "alice-secret-2").await;
    b.click("#accept-submit").await;
    b.wait_text("#accept-result", "differ").await;
    b.fill("#accept-confirm", "alice-secret-1").await;
    b.click("#accept-submit").await;
    b.wait_text("#accept-done", "alice").await;
    b.wait_text("#who", "alice").await;
    b.assert_no_errors("accept-invite submitted").await;

    let login = rig
        .admin
        .http
        .post(format!("{}/latest/user/login", rig.server.url))
        .form(&[("username", "alice"), ("password", "alice-secret-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        200,
        "alice logs in with the password she chose"
    );
    // The link is good once.
    b.open(link).await;
    b.fill("#accept-password", "another-pass").await;
    b.fill("#accept-confirm", "another-pass").await;
    b.click("#accept-submit").await;
    b.wait_text("#accept-result", "Invite already accepted")
        .await;
    // That 400 is in the console log; read it away.
    assert_eq!(b.console_errors().await.len(), 1);

    // The admin's form at `/user/invite` hands out a link the same way.
    b.js("localStorage.clear()", vec![]).await;
    b.open(&rig.url("/user/invite")).await;
    sign_in_with_password(&rig).await;
    b.fill("#invite-username", "bob").await;
    b.fill("#invite-email", "bob@example.org").await;
    b.click("#invite-send-email").await;
    b.click("#invite-submit").await;
    b.wait_text("#invite-result", "Invited bob").await;
    let url = b.wait_for("#invite-url").await.prop("value").await.unwrap();
    let url = url.unwrap_or_default();
    assert!(
        url.starts_with(&format!("{}/user/accept-invite?token=", rig.server.url)),
        "{url}"
    );
    let (s, bob) = rig
        .admin
        .call(Method::GET, "/latest/users?username=bob", None)
        .await;
    assert_eq!(
        (s, bob["items"][0]["is_verified"].clone()),
        (200, json!(false)),
        "{bob}"
    );
    b.assert_no_errors("invite form").await;
    rig.close().await;
}
