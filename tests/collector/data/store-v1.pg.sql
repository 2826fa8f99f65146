-- A store written by lambdaguard 0.1.0 (schema version 1), as pg_dump --no-owner --inserts prints it.
-- Made once by the 0.1.0 code; tests/collector/test_migrations.py migrates it.
CREATE TABLE public.lg_calls (
    arn text NOT NULL,
    call_key bytea NOT NULL,
    service text NOT NULL,
    operation text NOT NULL,
    region text NOT NULL,
    params text NOT NULL,
    phase text NOT NULL,
    error_code text NOT NULL,
    kms_key_id text NOT NULL,
    presign boolean NOT NULL,
    count bigint NOT NULL,
    first_seen bigint NOT NULL,
    last_seen bigint NOT NULL
);
CREATE TABLE public.lg_functions (
    arn text NOT NULL,
    account text NOT NULL,
    region text NOT NULL,
    name text NOT NULL,
    layer_version text NOT NULL,
    first_seen bigint NOT NULL,
    last_seen bigint NOT NULL
);
CREATE TABLE public.lg_hosts (
    arn text NOT NULL,
    host text NOT NULL,
    port integer NOT NULL,
    tls boolean NOT NULL,
    aws boolean NOT NULL,
    count bigint NOT NULL,
    failures bigint NOT NULL,
    first_seen bigint NOT NULL,
    last_seen bigint NOT NULL
);
CREATE TABLE public.lg_invocations (
    arn text NOT NULL,
    day character varying(10) NOT NULL,
    count bigint NOT NULL,
    cold_starts bigint NOT NULL,
    errors bigint NOT NULL,
    timeouts bigint NOT NULL
);
CREATE TABLE public.lg_schema_version (
    version integer NOT NULL,
    applied_at bigint NOT NULL
);
CREATE SEQUENCE public.lg_schema_version_version_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.lg_schema_version_version_seq OWNED BY public.lg_schema_version.version;
CREATE TABLE public.lg_span_keys (
    key bytea NOT NULL,
    seen_at bigint NOT NULL
);
ALTER TABLE ONLY public.lg_schema_version ALTER COLUMN version SET DEFAULT nextval('public.lg_schema_version_version_seq'::regclass);
INSERT INTO public.lg_calls VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:orders', '\x727b316059f6aaa1ff337ebaacfbf82a', 'dynamodb', 'PutItem', 'eu-west-1', '{"TableName":"orders"}', 'invoke', '', '', false, 3, 1764000000000000000, 1764000000000000002);
INSERT INTO public.lg_calls VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:orders', '\xa4069a5d51c94ed8dac1f9f936cd9427', 's3', 'GetObject', 'eu-west-1', '{"Bucket":"orders"}', 'invoke', '', '', false, 3, 1764000000000000000, 1764000000000000002);
INSERT INTO public.lg_calls VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:orders', '\xab48dd04f0f379e272a3fe40893dd2b6', 's3', 'PutObject', 'eu-west-1', '{"Bucket":"orders","Key":"in/"}', 'invoke', '', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', false, 3, 1764000000000000000, 1764000000000000002);
INSERT INTO public.lg_calls VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:legacy', '\xa4069a5d51c94ed8dac1f9f936cd9427', 's3', 'GetObject', 'eu-west-1', '{"Bucket":"orders"}', 'invoke', '', '', false, 1, 1760544000000000000, 1760544000000000000);
INSERT INTO public.lg_functions VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:orders', '123456789012', 'eu-west-1', 'orders', '0.1.0', 1764000000000000000, 1764000000000000002);
INSERT INTO public.lg_functions VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:legacy', '123456789012', 'eu-west-1', 'legacy', '0.1.0', 1760544000000000000, 1760544000000000000);
INSERT INTO public.lg_hosts VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:orders', 'api.example.com', 443, true, false, 3, 0, 1764000000000000000, 1764000000000000002);
INSERT INTO public.lg_hosts VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:orders', 'plain.example.com', 80, false, false, 3, 0, 1764000000000000000, 1764000000000000002);
INSERT INTO public.lg_invocations VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:orders', '2025-11-24', 3, 1, 0, 0);
INSERT INTO public.lg_invocations VALUES ('arn:aws:lambda:eu-west-1:123456789012:function:legacy', '2025-10-15', 1, 1, 0, 0);
INSERT INTO public.lg_schema_version VALUES (1, 1796190988);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000001', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000002', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000003', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000004', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000005', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000006', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000007', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000008', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x010101010101010101010101010101010000000000000009', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x01010101010101010101010101010101000000000000000a', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x01010101010101010101010101010101000000000000000b', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x01010101010101010101010101010101000000000000000c', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x020202020202020202020202020202020000000000000001', 1764000000);
INSERT INTO public.lg_span_keys VALUES ('\x020202020202020202020202020202020000000000000002', 1764000000);
SELECT pg_catalog.setval('public.lg_schema_version_version_seq', 1, false);
ALTER TABLE ONLY public.lg_calls
    ADD CONSTRAINT lg_calls_pkey PRIMARY KEY (arn, call_key);
ALTER TABLE ONLY public.lg_functions
    ADD CONSTRAINT lg_functions_pkey PRIMARY KEY (arn);
ALTER TABLE ONLY public.lg_hosts
    ADD CONSTRAINT lg_hosts_pkey PRIMARY KEY (arn, host, port, tls);
ALTER TABLE ONLY public.lg_invocations
    ADD CONSTRAINT lg_invocations_pkey PRIMARY KEY (arn, day);
ALTER TABLE ONLY public.lg_schema_version
    ADD CONSTRAINT lg_schema_version_pkey PRIMARY KEY (version);
ALTER TABLE ONLY public.lg_span_keys
    ADD CONSTRAINT lg_span_keys_pkey PRIMARY KEY (key);
CREATE INDEX ix_lg_span_keys_seen_at ON public.lg_span_keys USING btree (seen_at);
