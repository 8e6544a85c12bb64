-- The floor for one bulk invitation on PostgreSQL: the same rows Latchkey writes when the owner of :SLUG invites
-- :COUNT new people as Members (invited member rows, the prefixes of their search words, a hashed link each, the invitation mail
-- and one audit event each, the existing-email check before), by hand in psql in one transaction.
BEGIN;
CREATE TEMP TABLE ctx AS
  SELECT o.id AS org_id, o.id::text AS chain,
    (SELECT id FROM members WHERE email = 'owner@:SLUG.bench') AS owner_id,
    (SELECT id FROM roles r WHERE r.organization_id = o.id AND r.name = 'Member') AS role_id,
    (SELECT COALESCE(MAX(seq), 0) FROM audit_events a WHERE a.organization_id = o.id) AS head,
    now() AS now
  FROM organizations o WHERE o.slug = ':SLUG';
CREATE TEMP TABLE invitees AS
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :COUNT)
  SELECT i, gen_random_uuid() AS id, 'invitee' || i || '@:SLUG.invite' AS email, 'invitee' || i AS name FROM n;
SELECT COUNT(*) FROM members WHERE organization_id = (SELECT org_id FROM ctx) AND email IN (SELECT email FROM invitees);
INSERT INTO members (id, organization_id, role_id, email, name, password_hash, status, mfa_status, last_sign_in_at,
    created_at)
  SELECT t.id, ctx.org_id, ctx.role_id, t.email, t.name, '!invited', 'invited', 'not_set_up', NULL, ctx.now
  FROM invitees t, ctx;
INSERT INTO member_search_prefixes (organization_id, prefix, name, member_id, role_id, status, mfa_status)
  SELECT ctx.org_id, substr(t.name, 1, k), t.name, t.id, ctx.role_id, 'invited', 'not_set_up'
  FROM invitees t, ctx, generate_series(1, length(t.name)) k;
INSERT INTO member_tokens (id, member_id, organization_id, purpose, token_hash, issuer_id, issuer_name, created_at,
    expires_at, used_at)
  SELECT gen_random_uuid(), t.id, ctx.org_id, 'invite', md5(random()::text) || md5(random()::text), ctx.owner_id,
    'Bench Owner', ctx.now, ctx.now + interval '7 days', NULL
  FROM invitees t, ctx;
INSERT INTO mail_outbox (id, organization_id, to_email, subject, body, created_at, sent_at, attempts, next_attempt_at,
    give_up_at)
  SELECT gen_random_uuid(), ctx.org_id, t.email, 'Bench Owner invited you to Bench on Latchkey',
    'Hello ' || t.name || ', Bench Owner (owner@:SLUG.bench) invited you to join Bench on Latchkey as Member. Accept the invitation: http://127.0.0.1:8080/invitations/accept?token=' || md5(random()::text) || md5(random()::text) || ' You will choose your name and a password, then set up an authenticator app (Bench requires multi-factor authentication). The link works once, until next week. If you did not expect this, ignore this message.',
    ctx.now, NULL, 0, ctx.now, ctx.now + interval '1 day'
  FROM invitees t, ctx;
INSERT INTO audit_events (id, chain, seq, organization_id, occurred_at, actor_id, actor_email, actor_role, action,
    target_id, target_email, result, reason, batch_id, request_id, ip, user_agent, ticket, prev_hash, hash)
  SELECT gen_random_uuid(), ctx.chain, ctx.head + t.i, ctx.org_id, ctx.now, ctx.owner_id,
    'owner@:SLUG.bench', 'Owner', 'member.invited', t.id, t.email, 'success', 'invited as Member', NULL, 'floor',
    '127.0.0.1', 'floor', '', md5(random()::text) || md5(random()::text), md5(random()::text) || md5(random()::text)
  FROM invitees t, ctx;
UPDATE audit_chain_heads SET seq = (SELECT head FROM ctx) + :COUNT, hash = 'floor' WHERE chain = (SELECT chain FROM ctx);
COMMIT;
