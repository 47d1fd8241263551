//! Diesel's view of `migrations/registry.sql.in`. Keep the two in step; the
//! store tests run every query against both backends, so a drift fails them.
// No diesel CLI on the build machines: written by hand in the CLI's format.

diesel::table! {
    store_lock (id) {
        id -> Integer,
        writes -> BigInt,
        last_crl_number -> BigInt,
        base_claimed_until -> BigInt,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        inn -> Text,
        ogrn -> Text,
        agreement_number -> Text,
        status -> Text,
        webhook_url -> Nullable<Text>,
        created_at -> BigInt,
        terminated_at -> Nullable<BigInt>,
        terminated_document -> Nullable<Text>,
        contact_email -> Nullable<Text>,
    }
}

diesel::table! {
    persons (id) {
        id -> Text,
        organization_id -> Text,
        full_name -> Text,
        position -> Text,
        email -> Text,
        authority_document -> Text,
        authority_valid_until -> BigInt,
        registered_at -> BigInt,
        status -> Text,
        terminated_at -> Nullable<BigInt>,
        terminated_document -> Nullable<Text>,
    }
}

diesel::table! {
    certificates (serial) {
        serial -> Text,
        person_id -> Text,
        profile -> Text,
        status -> Text,
        key_sha256 -> Text,
        not_before -> BigInt,
        not_after -> BigInt,
        tbs -> Binary,
        der -> Nullable<Binary>,
        request_id -> Nullable<Text>,
        created_at -> BigInt,
        suspended_at -> Nullable<BigInt>,
        suspended_until -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        revocation_reason -> Nullable<Text>,
        invalidity_date -> Nullable<BigInt>,
        predecessor_serial -> Nullable<Text>,
    }
}

diesel::table! {
    requests (id) {
        id -> Text,
        cms_sha256 -> Text,
        cms -> Binary,
        csr -> Binary,
        request_type -> Text,
        status -> Text,
        reasons -> Text,
        comment -> Nullable<Text>,
        person_id -> Nullable<Text>,
        profile -> Text,
        signer_serial -> Nullable<Text>,
        key_sha256 -> Text,
        key_algorithm -> Text,
        received_at -> BigInt,
        decision_due -> Nullable<BigInt>,
        decided_at -> Nullable<BigInt>,
        decided_by -> Nullable<Text>,
        act_confirmed_at -> Nullable<BigInt>,
        act_confirmed_by -> Nullable<Text>,
        certificate_serial -> Nullable<Text>,
    }
}

diesel::table! {
    applications (id) {
        id -> Text,
        kind -> Text,
        document -> Text,
        certificate_serial -> Nullable<Text>,
        person_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        received_at -> BigInt,
        due_at -> BigInt,
        outcome -> Text,
        reasons -> Text,
        operator -> Text,
    }
}

diesel::table! {
    crls (number) {
        number -> BigInt,
        kind -> Text,
        base_number -> Nullable<BigInt>,
        this_update -> BigInt,
        next_update -> BigInt,
        entries -> BigInt,
        covers_change -> BigInt,
    }
}

diesel::table! {
    crl_parts (number, part) {
        number -> BigInt,
        part -> Integer,
        bytes -> Binary,
    }
}

diesel::table! {
    crl_changes (id) {
        id -> BigInt,
        serial -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    operators (username) {
        username -> Text,
        role -> Text,
        password_hash -> Text,
        must_change_password -> Integer,
        password_changed_at -> BigInt,
        failed_attempts -> Integer,
        locked -> Integer,
        disabled -> Integer,
        created_at -> BigInt,
    }
}

diesel::table! {
    sessions (token_sha256) {
        token_sha256 -> Text,
        username -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_checkpoints (records) {
        records -> BigInt,
        at -> BigInt,
        head_hash -> Text,
        statement -> Text,
        signature -> Binary,
    }
}

diesel::table! {
    audit (seq) {
        seq -> BigInt,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        object -> Text,
        outcome -> Text,
        reasons -> Text,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        created_at -> BigInt,
        person_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        event -> Text,
        payload -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        channel -> Text,
        destination -> Nullable<Text>,
    }
}

diesel::table! {
    renewal_reminders (serial) {
        serial -> Text,
        sent_at -> BigInt,
    }
}

diesel::joinable!(persons -> organizations (organization_id));
diesel::joinable!(certificates -> persons (person_id));
diesel::joinable!(sessions -> operators (username));
diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    persons,
    certificates,
    requests,
    outbox,
    applications,
    renewal_reminders,
);
diesel::allow_tables_to_appear_in_same_query!(sessions, operators);
