-- Client scope (DESIGN.md "Client scope"): the WHMCS client ids a
-- credential is bound to. Existing credentials stay as they were: not
-- scoped.

ALTER TABLE credentials
    -- canonical client ids ("12 40"): ascending, deduplicated, positive
    -- decimal integers separated by single spaces; empty: not scoped
    ADD COLUMN client_ids TEXT NOT NULL DEFAULT '';
