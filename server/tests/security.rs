//! Security suite of users and authorization, run through the real router on both stores.
//!
//! `two_store_suite!` (security/two_stores.rs) turns every case into a `sqlite::<case>`
//! and a `mongodb::<case>` test,
//! as the store conformance suite does. Each case gets a [`support::TestApp`]: an
//! `AppState` on a fresh store, with tokens signed by a known test secret (no unified
//! secret), users created directly in the store and requests sent with tower's `oneshot`.
//! SQLite runs in a temporary directory. MongoDB needs `MAESTRO_TEST_MONGODB_URI`; without
//! it the MongoDB tests are skipped, unless `CI=true`, where they fail. Each MongoDB test
//! uses its own database and drops it afterwards.
//!
//! Cases:
//! * `tokens`: every write endpoint refuses missing, expired, forged, foreign, audience-less
//!   tokens and tokens of inactive or deleted users; non-superusers get 403 from superuser
//!   endpoints; nothing is written.
//! * `node_rights`: a user who may not edit a node cannot PUT/PATCH it, reach it through a
//!   hierarchy write, or flag it through `/batch/nodeset`; every granting rule works.
//! * `escalation`: `PATCH /user/me` cannot raise privileges; a node's `owner` and
//!   `user_groups` cannot be changed by PUT/PATCH.
//! * `secrets`: no password, hash or token reaches a response body or a log line.
//! * `races`: concurrent writers of one node or account lose no acknowledged change, and
//!   no stored state transition is one the state machine forbids.
//! * `ownership`: nodes follow their account through renames; names and groups that
//!   nodes still carry cannot be taken over.

// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

// A test crate root resolves `mod x;` next to itself, so the case files need their path.
#[path = "security/escalation.rs"]
mod escalation;
#[path = "security/node_rights.rs"]
mod node_rights;
#[path = "security/ownership.rs"]
mod ownership;
#[path = "security/races.rs"]
mod races;
#[path = "security/secrets.rs"]
mod secrets;
#[path = "security/support.rs"]
mod support;
#[macro_use]
#[path = "security/two_stores.rs"]
mod two_stores;
#[path = "security/tokens.rs"]
mod tokens;

two_store_suite! {
    tokens::bad_tokens_are_refused_by_every_write_endpoint,
    tokens::non_superusers_get_403_from_superuser_endpoints,
    node_rights::non_editor_cannot_put_or_patch_a_node,
    node_rights::rights_are_checked_before_the_body,
    node_rights::hierarchy_with_a_foreign_child_is_refused_whole,
    node_rights::batch_nodeset_skips_nodes_the_caller_may_not_edit,
    node_rights::every_editing_rule_grants_access,
    escalation::patch_me_cannot_raise_privileges,
    escalation::node_owner_and_user_groups_cannot_be_changed,
    secrets::no_secret_reaches_a_response_or_the_log,
    races::concurrent_patches_of_one_node_lose_nothing,
    races::a_finished_node_never_goes_back,
    races::concurrent_account_updates_lose_nothing,
    ownership::a_renamed_user_keeps_their_nodes_and_the_old_name_gets_none,
    ownership::a_name_that_owns_nodes_cannot_be_taken,
    ownership::a_group_named_by_nodes_cannot_be_deleted,
}
