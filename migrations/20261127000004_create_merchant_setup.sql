-- The merchant setup flow of the platform's guide (shared/seed): merchants with Stripe off until
-- enabled with a selected profile, profiles with live keys checked against Stripe, an audit
-- trail of every change, and each merchant's readiness step by step.

alter table merchants
    add column name text check (name is null or (btrim(name) <> '' and length(name) <= 200)),
    add column stripe_enabled boolean not null default false,
    add column selected_profile_id text,
    add column updated_at timestamptz not null default now();

-- Lets a merchant point at its own profiles only (the composite key below).
alter table stripe_profiles add constraint stripe_profiles_id_merchant unique (id, merchant_id);

alter table merchants
    -- a merchant selects only one of its own profiles; disabling Stripe keeps the selection
    add constraint merchants_selected_profile_fk foreign key (selected_profile_id, id)
        references stripe_profiles (id, merchant_id),
    add constraint merchants_enabled_needs_profile
        check (not stripe_enabled or selected_profile_id is not null);

alter table stripe_profiles
    -- public by design (it goes into the Mobile Commerce app), so stored in the clear
    add column publishable_key text check (publishable_key ~ '^pk_(live|test)_[A-Za-z0-9]+$'),
    -- what Stripe answered to GET /v1/account with the secret key when the keys were saved
    add column stripe_account_id text,
    add column stripe_display_name text,
    -- when Stripe last accepted the keys (null: never checked, e.g. a key set without them)
    add column keys_checked_at timestamptz,
    -- the webhook endpoint accredito registered on the account, when it did
    add column webhook_endpoint_id text,
    add column webhook_endpoint_status text;

-- Every change to a merchant or a profile: who (the admin token's name, or "cli"), what, when.
-- `detail` never holds a secret value: keys and secrets are named, never quoted.
create table audit_log (
    id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    actor text not null check (btrim(actor) <> ''),
    merchant_id text,
    profile_id text,
    action text not null,
    detail jsonb not null default '{}'::jsonb
);
create index audit_log_merchant on audit_log (merchant_id, id);
create index audit_log_profile on audit_log (profile_id, id);

-- One row per merchant and step of the setup guide: done, missing or unknown (never checked),
-- with what to do in English and Italian when not done.
create view back_office.merchant_readiness as
with facts as (
    select m.id as merchant_id, m.stripe_enabled, m.selected_profile_id,
           p.id as profile_id, p.publishable_key, p.keys_checked_at, p.webhook_endpoint_id,
           p.webhook_endpoint_status,
           (select max(e.received_at) from inbox_events e where e.profile_id = p.id)
               as last_event_at,
           exists (select 1 from alerts a where a.merchant_id = m.id
                   and a.kind = 'webhook_endpoint_disabled' and a.resolved_at is null)
               as endpoint_disabled,
           coalesce(b.last_error like 'Stripe rejected the secret key%', false) as key_rejected,
           b.external_account_count, b.external_account_due, b.payouts_enabled
    from merchants m
    left join stripe_profiles p on p.id = m.selected_profile_id
    left join merchant_bank_states b on b.merchant_id = m.id
),
steps as (
    select f.merchant_id, f.profile_id, s.position, s.step, s.state, s.at, s.todo_en, s.todo_it
    from facts f
    cross join lateral (values
        (1, 'stripe_enabled',
         case when f.stripe_enabled then 'done' else 'missing' end, null::timestamptz,
         'Switch Stripe from NO to YES in Account settings > Mobile Commerce orders > Payment methods.',
         'Attiva Stripe (da NO a SÌ) in Impostazioni account > Ordini Mobile Commerce > Metodi di pagamento.'),
        (2, 'profile_selected',
         case when f.profile_id is not null then 'done' else 'missing' end, null,
         'Select a Stripe profile: reuse one created earlier, or create one with the Stripe account name, the publishable key and the secret key.',
         'Seleziona un profilo Stripe: riusane uno creato in precedenza, oppure creane uno con il nome dell''account Stripe, la chiave pubblicabile e la chiave segreta.'),
        (3, 'live_keys_accepted',
         case when f.profile_id is null or f.key_rejected then 'missing'
              when f.publishable_key is not null and f.keys_checked_at is not null then 'done'
              else 'missing' end, f.keys_checked_at,
         case when f.key_rejected
              then 'Stripe now rejects the profile''s secret key (rolled or revoked): copy the current live keys from Stripe > Developers > API keys and save them in the profile.'
              else 'Copy the live publishable key (pk_live_...) and secret key (sk_live_...) from Stripe > Developers > API keys, with the account NOT in test mode, and save them in the profile: with test keys transactions fail.' end,
         case when f.key_rejected
              then 'Stripe ora rifiuta la chiave segreta del profilo (rigenerata o revocata): copia le chiavi live attuali da Stripe > Sviluppatori > Chiavi API e salvale nel profilo.'
              else 'Copia la chiave pubblicabile live (pk_live_...) e la chiave segreta live (sk_live_...) da Stripe > Sviluppatori > Chiavi API, con l''account NON in modalità test, e salvale nel profilo: con le chiavi di test le transazioni non vanno a buon fine.' end),
        (4, 'webhook_endpoint',
         case when f.endpoint_disabled then 'missing'
              when f.webhook_endpoint_status = 'enabled' or f.last_event_at is not null then 'done'
              when f.profile_id is null then 'missing'
              else 'unknown' end, null,
         case when f.endpoint_disabled
              then 'Stripe disabled the webhook endpoint: events are not delivered. Enable it again in Stripe > Developers > Webhooks, or register it again from accredito.'
              when f.profile_id is null then 'Select a profile first; then register its webhook endpoint on Stripe.'
              else 'Not checked yet: register the profile''s webhook endpoint on Stripe (accredito can do it with the profile''s key), or wait for the first event.' end,
         case when f.endpoint_disabled
              then 'Stripe ha disattivato l''endpoint webhook: gli eventi non vengono consegnati. Riattivalo in Stripe > Sviluppatori > Webhook, oppure registralo di nuovo da accredito.'
              when f.profile_id is null then 'Seleziona prima un profilo; poi registra il suo endpoint webhook su Stripe.'
              else 'Non ancora verificato: registra l''endpoint webhook del profilo su Stripe (accredito può farlo con la chiave del profilo), oppure attendi il primo evento.' end),
        (5, 'event_received',
         case when f.last_event_at is not null then 'done' else 'missing' end, f.last_event_at,
         'No event from Stripe yet: check that the webhook endpoint points at this profile''s accredito URL and that its signing secret is stored in the profile.',
         'Nessun evento ancora ricevuto da Stripe: verifica che l''endpoint webhook punti all''URL accredito di questo profilo e che il suo segreto di firma sia salvato nel profilo.'),
        (6, 'bank_account_linked',
         case when f.external_account_count is null then 'unknown'
              when f.external_account_count > 0 and not f.external_account_due then 'done'
              else 'missing' end, null,
         case when f.external_account_count is null
              then 'Not known yet: it is read from Stripe once the profile has live keys. Meanwhile check Stripe > Settings > Payments and transfers > Bank accounts and schedule.'
              else 'Link a bank account in Stripe > Settings > Payments and transfers > Bank accounts and schedule, and pick the payout frequency: without it payouts never reach the merchant''s bank account.' end,
         case when f.external_account_count is null
              then 'Non ancora noto: viene letto da Stripe quando il profilo ha le chiavi live. Nel frattempo controlla Stripe > Impostazioni > Pagamenti e trasferimenti > Conti bancari e pianificazione.'
              else 'Collega un conto bancario in Stripe > Impostazioni > Pagamenti e trasferimenti > Conti bancari e pianificazione e scegli la frequenza dei bonifici: senza questo passaggio i pagamenti non vengono mai accreditati sul conto del commerciante.' end),
        (7, 'payouts_enabled',
         case when f.payouts_enabled is null then 'unknown'
              when f.payouts_enabled then 'done' else 'missing' end, null,
         case when f.payouts_enabled is null
              then 'Not known yet: it is read from Stripe once the profile has live keys.'
              else 'Stripe has payouts disabled: complete the business data Stripe asks for (Stripe dashboard > Settings > Business) and link a bank account.' end,
         case when f.payouts_enabled is null
              then 'Non ancora noto: viene letto da Stripe quando il profilo ha le chiavi live.'
              else 'Stripe ha disattivato i bonifici: completa i dati aziendali richiesti da Stripe (dashboard Stripe > Impostazioni > Attività) e collega un conto bancario.' end)
    ) as s (position, step, state, at, todo_en, todo_it)
)
select merchant_id, profile_id, position, step, state, at,
       case when state <> 'done' then todo_en end as todo_en,
       case when state <> 'done' then todo_it end as todo_it
from steps;
