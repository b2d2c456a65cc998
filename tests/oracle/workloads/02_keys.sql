-- Primary keys (int handle, clustered common handle, non-clustered), unique keys, no key.
SET time_zone = '+00:00';
CREATE DATABASE corpus_keys;
USE corpus_keys;

CREATE TABLE k_int_handle (id BIGINT PRIMARY KEY CLUSTERED, v VARCHAR(10));
CREATE TABLE k_uint_handle (id BIGINT UNSIGNED PRIMARY KEY CLUSTERED, v VARCHAR(10));
CREATE TABLE k_varchar_clustered (id VARCHAR(20) PRIMARY KEY CLUSTERED, v INT);
CREATE TABLE k_composite_clustered (a INT, b VARCHAR(10) COLLATE utf8mb4_general_ci, c DATETIME(3), v INT, PRIMARY KEY (a, b, c) CLUSTERED);
CREATE TABLE k_decimal_clustered (d DECIMAL(12,4) PRIMARY KEY CLUSTERED, v INT);
CREATE TABLE k_nonclustered (id INT PRIMARY KEY NONCLUSTERED, v INT, KEY idx_v (v));
CREATE TABLE k_uk_not_null (a INT NOT NULL, b INT NOT NULL, v INT, UNIQUE KEY uk_ab (a, b), UNIQUE KEY uk_v (v));
CREATE TABLE k_uk_nullable (a INT, v INT, UNIQUE KEY uk_a (a));
CREATE TABLE k_no_key (a INT, b VARCHAR(10));

INSERT INTO k_int_handle VALUES (-9223372036854775808, 'min'), (0, 'zero'), (9223372036854775807, 'max');
INSERT INTO k_uint_handle VALUES (0, 'zero'), (9223372036854775808, 'mid'), (18446744073709551615, 'max');
INSERT INTO k_varchar_clustered VALUES ('abc', 1), ('ABC ', 2), ('😀', 3), ('', 4);
INSERT INTO k_composite_clustered VALUES (1, 'x', '2024-01-01 00:00:00.001', 1), (1, 'Y', '2024-01-01 00:00:00.002', 2);
INSERT INTO k_decimal_clustered VALUES (-12345678.1234, 1), (0, 2), (0.0001, 3);
INSERT INTO k_nonclustered VALUES (1, 10), (2, 20);
INSERT INTO k_uk_not_null VALUES (1, 1, 100), (1, 2, NULL);
INSERT INTO k_uk_nullable VALUES (NULL, 1), (NULL, 2), (5, 3);
INSERT INTO k_no_key VALUES (1, 'a'), (1, 'a'), (NULL, NULL);

-- updates that keep the key, change the handle, change a unique key
UPDATE k_int_handle SET v = 'zero2' WHERE id = 0;
UPDATE k_int_handle SET id = 1 WHERE id = 0;
UPDATE k_varchar_clustered SET id = 'abd' WHERE id = 'abc';
UPDATE k_nonclustered SET id = 3 WHERE id = 1;
UPDATE k_nonclustered SET v = 21 WHERE id = 2;
UPDATE k_uk_not_null SET b = 3 WHERE a = 1 AND b = 2;
UPDATE k_no_key SET b = 'b' WHERE a = 1;
-- a multi-row transaction touching several tables
BEGIN;
INSERT INTO k_int_handle VALUES (7, 'txn');
DELETE FROM k_varchar_clustered WHERE id = '';
UPDATE k_uk_nullable SET a = 6 WHERE v = 3;
COMMIT;
DELETE FROM k_int_handle WHERE id = 9223372036854775807;
DELETE FROM k_composite_clustered WHERE a = 1;
DELETE FROM k_no_key WHERE a IS NULL;
