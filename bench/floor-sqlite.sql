-- The floor for one bulk reset on SQLite: the same row changes Latchkey makes for every member of the
-- organization :SLUG (except its owner), written by hand and run in sqlite3 in one transaction.
-- (Audit hashes are random here: the floor does not chain them.)
BEGIN;
CREATE TEMP TABLE targets AS
  SELECT m.id, m.name, m.email, m.mfa_status, m.organization_id, row_number() OVER (ORDER BY m.id) AS position
  FROM members m JOIN organizations o ON o.id = m.organization_id
  WHERE o.slug = ':SLUG' AND m.email <> 'owner@:SLUG.bench';
CREATE INDEX targets_id ON targets (id);
CREATE TEMP TABLE ctx AS
  SELECT randomblob(16) AS batch_id, o.id AS org_id, lower(
    substr(hex(o.id), 1, 8) || '-' || substr(hex(o.id), 9, 4) || '-' || substr(hex(o.id), 13, 4) || '-' ||
    substr(hex(o.id), 17, 4) || '-' || substr(hex(o.id), 21, 12)) AS chain,
    (SELECT id FROM members WHERE email = 'owner@:SLUG.bench') AS owner_id,
    (SELECT COALESCE(MAX(seq), 0) FROM audit_events a WHERE a.organization_id = o.id) AS head,
    CAST(strftime('%s', 'now') AS REAL) AS now
  FROM organizations o WHERE o.slug = ':SLUG';
INSERT INTO reset_batches (id, organization_id, actor_id, idempotency_key, request_hash, status, total, processed,
    reset_count, skipped_count, failed_count, reason, background, request_id, ip, user_agent, created_at)
  SELECT batch_id, org_id, owner_id, NULL, 'floor', 'running', (SELECT COUNT(*) FROM targets), 0, 0, 0, 0, 'bench', 1,
    'floor', '127.0.0.1', 'floor', now FROM ctx;
INSERT INTO reset_results (id, batch_id, position, member_id, status, reason, member_name, member_email)
  SELECT randomblob(16), ctx.batch_id, t.position, t.id, 'pending', '', '', '' FROM targets t, ctx;
DELETE FROM totp_credentials WHERE member_id IN (SELECT id FROM targets);
DELETE FROM recovery_codes WHERE member_id IN (SELECT id FROM targets);
DELETE FROM sessions WHERE member_id IN (SELECT id FROM targets);
UPDATE members SET mfa_status = 'reset_pending'
  WHERE id IN (SELECT id FROM targets WHERE mfa_status = 'enabled');
DELETE FROM sign_in_throttles WHERE kind = 'second_factor' AND member_id IN (SELECT id FROM targets);
INSERT INTO audit_events (id, chain, seq, organization_id, occurred_at, actor_id, actor_email, actor_role, action,
    target_id, target_email, result, reason, batch_id, request_id, ip, user_agent, ticket, prev_hash, hash)
  SELECT randomblob(16), ctx.chain, ctx.head + t.position, ctx.org_id, ctx.now, ctx.owner_id, 'owner@:SLUG.bench', 'Owner',
    'mfa.reset', t.id, t.email, CASE WHEN t.mfa_status = 'enabled' THEN 'success' ELSE 'skipped' END,
    CASE WHEN t.mfa_status = 'enabled' THEN '' ELSE 'No MFA was set up' END, ctx.batch_id, 'floor', '127.0.0.1', 'floor',
    'bench', lower(hex(randomblob(32))), lower(hex(randomblob(32)))
  FROM targets t, ctx;
INSERT INTO mail_outbox (id, organization_id, to_email, subject, body, created_at, sent_at, attempts)
  SELECT randomblob(16), ctx.org_id, t.email, 'Your multi-factor authentication was reset',
    'Hello ' || t.name || ', Bench Owner (owner@:SLUG.bench), Owner of Bench, reset the multi-factor authentication (MFA) on your Latchkey account. What was removed: your authenticator app; your recovery codes; every signed-in session: you were signed out on all devices. Your account, role and data were not changed. The next time you sign in, you will be asked to set up an authenticator app again before you can continue. Reason or ticket given: bench. If you did not ask for this, contact your administrator or security team right away: someone may be trying to take over your account.',
    ctx.now, NULL, 0
  FROM targets t, ctx WHERE t.mfa_status = 'enabled';
UPDATE reset_results SET
    status = CASE WHEN (SELECT mfa_status FROM targets WHERE targets.id = reset_results.member_id) = 'enabled' THEN 'reset' ELSE 'skipped' END,
    member_name = (SELECT name FROM targets WHERE targets.id = reset_results.member_id),
    member_email = (SELECT email FROM targets WHERE targets.id = reset_results.member_id)
  WHERE batch_id = (SELECT batch_id FROM ctx);
UPDATE audit_chain_heads SET seq = (SELECT head FROM ctx) + (SELECT COUNT(*) FROM targets), hash = 'floor'
  WHERE chain = (SELECT chain FROM ctx);
UPDATE reset_batches SET status = 'completed', processed = total,
    reset_count = (SELECT COUNT(*) FROM targets WHERE mfa_status = 'enabled'),
    skipped_count = (SELECT COUNT(*) FROM targets WHERE mfa_status <> 'enabled')
  WHERE id = (SELECT batch_id FROM ctx);
COMMIT;
