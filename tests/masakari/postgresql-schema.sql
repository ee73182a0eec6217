-- Masakari's schema on PostgreSQL, made by tests/masakari/produce.py from masakari==22.0.0
-- (`masakari-manage db sync`; see tests/masakari/README.md). Do not edit by hand.



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;


CREATE TYPE public.atom_types AS ENUM (
    'RETRY_DETAIL',
    'TASK_DETAIL'
);



CREATE TYPE public.intention_type AS ENUM (
    'EXECUTE',
    'IGNORE',
    'REVERT',
    'RETRY'
);



CREATE TYPE public.notification_status AS ENUM (
    'new',
    'running',
    'error',
    'failed',
    'ignored',
    'finished'
);



CREATE TYPE public.recovery_methods AS ENUM (
    'auto',
    'reserved_host',
    'auto_priority',
    'rh_priority'
);


SET default_tablespace = '';

SET default_table_access_method = heap;


CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);



CREATE TABLE public.atomdetails (
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    parent_uuid character varying(64),
    meta json,
    name character varying(255),
    results json,
    version character varying(64),
    state character varying(255),
    uuid character varying(64) CONSTRAINT taskdetails_uuid_not_null NOT NULL,
    failure json,
    atom_type public.atom_types,
    intention public.intention_type DEFAULT 'EXECUTE'::public.intention_type,
    revert_results json,
    revert_failure json
);



CREATE TABLE public.failover_segments (
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    deleted_at timestamp without time zone,
    deleted integer,
    id integer NOT NULL,
    uuid character varying(36) NOT NULL,
    name character varying(255) NOT NULL,
    service_type character varying(255) NOT NULL,
    description text,
    recovery_method public.recovery_methods NOT NULL,
    enabled boolean
);



CREATE SEQUENCE public.failover_segments_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.failover_segments_id_seq OWNED BY public.failover_segments.id;



CREATE TABLE public.flowdetails (
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    parent_uuid character varying(64),
    meta json,
    state character varying(255),
    name character varying(255),
    uuid character varying(64) NOT NULL
);



CREATE TABLE public.hosts (
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    deleted_at timestamp without time zone,
    deleted integer,
    id integer NOT NULL,
    uuid character varying(36) NOT NULL,
    name character varying(255) NOT NULL,
    reserved boolean,
    type character varying(255) NOT NULL,
    control_attributes text NOT NULL,
    failover_segment_id character varying(36) NOT NULL,
    on_maintenance boolean
);



CREATE SEQUENCE public.hosts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.hosts_id_seq OWNED BY public.hosts.id;



CREATE TABLE public.logbooks (
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    meta json,
    name character varying(255),
    uuid character varying(64) NOT NULL
);



CREATE TABLE public.masakari_alembic_version (
    version_num character varying(32) NOT NULL
);



CREATE TABLE public.notifications (
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    deleted_at timestamp without time zone,
    deleted integer,
    id integer NOT NULL,
    notification_uuid character varying(36) NOT NULL,
    generated_time timestamp without time zone NOT NULL,
    source_host_uuid character varying(36) NOT NULL,
    type character varying(36) NOT NULL,
    payload text,
    status public.notification_status NOT NULL,
    failover_segment_uuid character varying(36),
    message text
);



CREATE SEQUENCE public.notifications_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.notifications_id_seq OWNED BY public.notifications.id;



CREATE TABLE public.vmoves (
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    deleted_at timestamp without time zone,
    deleted integer,
    id integer NOT NULL,
    uuid character varying(36) NOT NULL,
    notification_uuid character varying(36) NOT NULL,
    instance_uuid character varying(36) NOT NULL,
    instance_name character varying(255) NOT NULL,
    source_host character varying(255),
    dest_host character varying(255),
    start_time timestamp without time zone,
    end_time timestamp without time zone,
    type character varying(36),
    status character varying(255),
    message text
);



CREATE SEQUENCE public.vmoves_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;



ALTER SEQUENCE public.vmoves_id_seq OWNED BY public.vmoves.id;



ALTER TABLE ONLY public.failover_segments ALTER COLUMN id SET DEFAULT nextval('public.failover_segments_id_seq'::regclass);



ALTER TABLE ONLY public.hosts ALTER COLUMN id SET DEFAULT nextval('public.hosts_id_seq'::regclass);



ALTER TABLE ONLY public.notifications ALTER COLUMN id SET DEFAULT nextval('public.notifications_id_seq'::regclass);



ALTER TABLE ONLY public.vmoves ALTER COLUMN id SET DEFAULT nextval('public.vmoves_id_seq'::regclass);



ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);



ALTER TABLE ONLY public.failover_segments
    ADD CONSTRAINT failover_segments_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.flowdetails
    ADD CONSTRAINT flowdetails_pkey PRIMARY KEY (uuid);



ALTER TABLE ONLY public.hosts
    ADD CONSTRAINT hosts_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.logbooks
    ADD CONSTRAINT logbooks_pkey PRIMARY KEY (uuid);



ALTER TABLE ONLY public.masakari_alembic_version
    ADD CONSTRAINT masakari_alembic_version_pkc PRIMARY KEY (version_num);



ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT notifications_pkey PRIMARY KEY (id);



ALTER TABLE ONLY public.atomdetails
    ADD CONSTRAINT taskdetails_pkey PRIMARY KEY (uuid);



ALTER TABLE ONLY public.hosts
    ADD CONSTRAINT uniq_host0name0deleted UNIQUE (name, deleted);



ALTER TABLE ONLY public.hosts
    ADD CONSTRAINT uniq_host0uuid UNIQUE (uuid);



ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT uniq_notification0uuid UNIQUE (notification_uuid);



ALTER TABLE ONLY public.failover_segments
    ADD CONSTRAINT uniq_segment0name0deleted UNIQUE (name, deleted);



ALTER TABLE ONLY public.failover_segments
    ADD CONSTRAINT uniq_segments0uuid UNIQUE (uuid);



ALTER TABLE ONLY public.vmoves
    ADD CONSTRAINT uniq_vmove0uuid UNIQUE (uuid);



ALTER TABLE ONLY public.vmoves
    ADD CONSTRAINT vmoves_pkey PRIMARY KEY (id);



CREATE INDEX flowdetails_uuid_idx ON public.flowdetails USING btree (uuid);



CREATE INDEX hosts_type_idx ON public.hosts USING btree (type);



CREATE INDEX logbook_uuid_idx ON public.logbooks USING btree (uuid);



CREATE INDEX segments_service_type_idx ON public.failover_segments USING btree (service_type);



CREATE INDEX taskdetails_uuid_idx ON public.atomdetails USING btree (uuid);



ALTER TABLE ONLY public.flowdetails
    ADD CONSTRAINT flowdetails_ibfk_1 FOREIGN KEY (parent_uuid) REFERENCES public.logbooks(uuid) ON DELETE CASCADE;



ALTER TABLE ONLY public.hosts
    ADD CONSTRAINT hosts_failover_segment_id_fkey FOREIGN KEY (failover_segment_id) REFERENCES public.failover_segments(uuid);



ALTER TABLE ONLY public.atomdetails
    ADD CONSTRAINT taskdetails_ibfk_1 FOREIGN KEY (parent_uuid) REFERENCES public.flowdetails(uuid) ON DELETE CASCADE;







SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;


INSERT INTO public.alembic_version VALUES ('00af93df9d77');



INSERT INTO public.masakari_alembic_version VALUES ('13adff5efb9a');




