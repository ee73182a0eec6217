-- Rows written by the real masakari-api, made by tests/masakari/produce.py from masakari==22.0.0
-- (`masakari-manage db sync`; see tests/masakari/README.md). Do not edit by hand.
/*M!999999\- enable the sandbox mode */ 

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

LOCK TABLES `failover_segments` WRITE;
/*!40000 ALTER TABLE `failover_segments` DISABLE KEYS */;
INSERT INTO `failover_segments` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `service_type`, `description`, `recovery_method`, `enabled`) VALUES ('2026-12-02 01:13:13',NULL,NULL,0,1,'5013cd81-8347-431f-9788-c66f53595734','rack-a','COMPUTE','automatic evacuation','auto',1);
INSERT INTO `failover_segments` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `service_type`, `description`, `recovery_method`, `enabled`) VALUES ('2026-12-02 01:13:13',NULL,NULL,0,2,'c645c9e9-19d4-4921-ac2e-f9546a0ee084','rack-b','COMPUTE','spare hosts in rack b','reserved_host',1);
INSERT INTO `failover_segments` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `service_type`, `description`, `recovery_method`, `enabled`) VALUES ('2026-12-02 01:13:14',NULL,NULL,0,3,'7a6795e8-7c89-4526-8053-4fa1f46ce6c7','rack-c','COMPUTE',NULL,'rh_priority',1);
INSERT INTO `failover_segments` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `service_type`, `description`, `recovery_method`, `enabled`) VALUES ('2026-12-02 01:13:15',NULL,'2026-12-02 01:13:15',4,4,'391d2a99-6d84-4ca7-9927-9dd93e9c0d14','retired','COMPUTE',NULL,'auto',1);
/*!40000 ALTER TABLE `failover_segments` ENABLE KEYS */;
UNLOCK TABLES;

LOCK TABLES `hosts` WRITE;
/*!40000 ALTER TABLE `hosts` DISABLE KEYS */;
INSERT INTO `hosts` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `reserved`, `type`, `control_attributes`, `failover_segment_id`, `on_maintenance`) VALUES ('2026-12-02 01:13:13',NULL,NULL,0,1,'25b3b380-0871-4fcf-91d8-1f5fcabd3145','compute-000',0,'COMPUTE','SSH','5013cd81-8347-431f-9788-c66f53595734',0);
INSERT INTO `hosts` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `reserved`, `type`, `control_attributes`, `failover_segment_id`, `on_maintenance`) VALUES ('2026-12-02 01:13:13','2026-12-02 01:13:14',NULL,0,2,'bf6f9fae-d308-473b-88b9-ded26a3243d0','compute-001',1,'COMPUTE','SSH','5013cd81-8347-431f-9788-c66f53595734',1);
INSERT INTO `hosts` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `reserved`, `type`, `control_attributes`, `failover_segment_id`, `on_maintenance`) VALUES ('2026-12-02 01:13:14',NULL,NULL,0,3,'6a196187-4fc0-4896-ad83-8ca759659fd0','compute-002',0,'COMPUTE','SSH','c645c9e9-19d4-4921-ac2e-f9546a0ee084',0);
INSERT INTO `hosts` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `reserved`, `type`, `control_attributes`, `failover_segment_id`, `on_maintenance`) VALUES ('2026-12-02 01:13:14',NULL,NULL,0,4,'0a38623d-c57f-472c-8e6f-206dbe531308','compute-003',1,'COMPUTE','SSH','c645c9e9-19d4-4921-ac2e-f9546a0ee084',0);
INSERT INTO `hosts` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `reserved`, `type`, `control_attributes`, `failover_segment_id`, `on_maintenance`) VALUES ('2026-12-02 01:13:14',NULL,NULL,0,5,'e4ff6ff1-4b63-4130-9bfc-9544214b8768','compute-004',0,'COMPUTE','SSH','7a6795e8-7c89-4526-8053-4fa1f46ce6c7',0);
INSERT INTO `hosts` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `reserved`, `type`, `control_attributes`, `failover_segment_id`, `on_maintenance`) VALUES ('2026-12-02 01:13:14',NULL,NULL,0,6,'fc0736f0-925e-4c25-9bd2-9b4bdf1fa88b','compute-005',1,'COMPUTE','SSH','7a6795e8-7c89-4526-8053-4fa1f46ce6c7',0);
INSERT INTO `hosts` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `uuid`, `name`, `reserved`, `type`, `control_attributes`, `failover_segment_id`, `on_maintenance`) VALUES ('2026-12-02 01:13:15',NULL,'2026-12-02 01:13:15',7,7,'10240391-b8b5-49d3-b68a-c17e8c3fbcf7','compute-006',0,'COMPUTE','','391d2a99-6d84-4ca7-9927-9dd93e9c0d14',0);
/*!40000 ALTER TABLE `hosts` ENABLE KEYS */;
UNLOCK TABLES;

LOCK TABLES `notifications` WRITE;
/*!40000 ALTER TABLE `notifications` DISABLE KEYS */;
INSERT INTO `notifications` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `notification_uuid`, `generated_time`, `source_host_uuid`, `type`, `payload`, `status`, `failover_segment_uuid`, `message`) VALUES ('2026-12-02 01:13:17',NULL,NULL,0,1,'74dd09c3-24e1-4ea7-a560-e4a5ed0ea3e8','2026-11-30 10:00:00','6a196187-4fc0-4896-ad83-8ca759659fd0','COMPUTE_HOST','{\"event\": \"STOPPED\", \"host_status\": \"NORMAL\", \"cluster_status\": \"OFFLINE\"}','new','c645c9e9-19d4-4921-ac2e-f9546a0ee084',NULL);
INSERT INTO `notifications` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `notification_uuid`, `generated_time`, `source_host_uuid`, `type`, `payload`, `status`, `failover_segment_uuid`, `message`) VALUES ('2026-12-02 01:13:22',NULL,NULL,0,2,'da0c15c8-5970-48d6-b847-cc0a433f2ec6','2026-11-30 10:00:00','e4ff6ff1-4b63-4130-9bfc-9544214b8768','VM','{\"event\": \"LIFECYCLE\", \"instance_uuid\": \"a3a0f3c6-7b0e-4b9c-9f7e-2c1d3b4a5e6f\", \"vir_domain_event\": \"STOPPED_FAILED\"}','new','7a6795e8-7c89-4526-8053-4fa1f46ce6c7',NULL);
INSERT INTO `notifications` (`created_at`, `updated_at`, `deleted_at`, `deleted`, `id`, `notification_uuid`, `generated_time`, `source_host_uuid`, `type`, `payload`, `status`, `failover_segment_uuid`, `message`) VALUES ('2026-12-02 01:13:25',NULL,NULL,0,3,'6a2cc1f5-9f52-4fd7-bbd3-c7b35f8ae685','2026-11-30 10:00:00','e4ff6ff1-4b63-4130-9bfc-9544214b8768','PROCESS','{\"event\": \"STOPPED\", \"process_name\": \"nova-compute\"}','new','7a6795e8-7c89-4526-8053-4fa1f46ce6c7',NULL);
/*!40000 ALTER TABLE `notifications` ENABLE KEYS */;
UNLOCK TABLES;

LOCK TABLES `vmoves` WRITE;
/*!40000 ALTER TABLE `vmoves` DISABLE KEYS */;
/*!40000 ALTER TABLE `vmoves` ENABLE KEYS */;
UNLOCK TABLES;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

