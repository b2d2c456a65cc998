-- Every TiDB column type with its edge values. One table per type family so that each
-- corpus file stays readable. Zero dates need a permissive sql_mode.
SET sql_mode = '';
SET time_zone = '+00:00';
CREATE DATABASE corpus_types;
USE corpus_types;

CREATE TABLE t_int (
  id INT PRIMARY KEY,
  c_tinyint TINYINT, c_tinyint_u TINYINT UNSIGNED,
  c_smallint SMALLINT, c_smallint_u SMALLINT UNSIGNED,
  c_mediumint MEDIUMINT, c_mediumint_u MEDIUMINT UNSIGNED,
  c_int INT, c_int_u INT UNSIGNED,
  c_bigint BIGINT, c_bigint_u BIGINT UNSIGNED,
  c_bool BOOL, c_int_zf INT(5) ZEROFILL, c_year YEAR
);
INSERT INTO t_int VALUES (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 0, 0, 1901);
INSERT INTO t_int VALUES (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, 1, 42, 2155);
INSERT INTO t_int VALUES (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO t_int VALUES (4, 0, 128, 0, 32768, 0, 8388608, 0, 2147483648, 0, 9223372036854775808, -1, 1, 0);
UPDATE t_int SET c_bigint_u = 18446744073709551614, c_year = 2024 WHERE id = 2;
DELETE FROM t_int WHERE id = 3;

CREATE TABLE t_num (
  id INT PRIMARY KEY,
  c_float FLOAT, c_float_p FLOAT(10,3), c_double DOUBLE, c_double_p DOUBLE(20,3), c_float_u FLOAT UNSIGNED,
  c_dec DECIMAL, c_dec_5_2 DECIMAL(5,2), c_dec_wide DECIMAL(65,30), c_dec_65_0 DECIMAL(65,0),
  c_dec_u DECIMAL(10,4) UNSIGNED, c_dec_frac DECIMAL(30,29)
);
INSERT INTO t_num VALUES (1, 3.14, 1234.567, 2.718281828459045, 12345.678, 0, 0, 0, 0, 0, 0, 0);
INSERT INTO t_num VALUES (2, -3.4028235e38, -9999999.999, -1.7976931348623157e308, -1.5, 1e-7, -9999999999, -999.99,
  -12345678901234567890123456789012345.123456789012345678901234567890,
  -99999999999999999999999999999999999999999999999999999999999999999, 123456.7891, -9.99999999999999999999999999999);
INSERT INTO t_num VALUES (3, 1e-45, 0.001, 5e-324, 1e20, 3.4e38, 9999999999, 999.99,
  99999999999999999999999999999999999.999999999999999999999999999999,
  99999999999999999999999999999999999999999999999999999999999999999, 0.0001, 0.00000000000000000000000000001);
INSERT INTO t_num VALUES (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE t_num SET c_dec_5_2 = 12.5, c_double = 0.1 WHERE id = 1;

CREATE TABLE t_time (
  id INT PRIMARY KEY,
  c_date DATE, c_datetime DATETIME, c_datetime3 DATETIME(3), c_datetime6 DATETIME(6),
  c_ts TIMESTAMP NULL, c_ts1 TIMESTAMP(1) NULL, c_ts6 TIMESTAMP(6) NULL,
  c_time TIME, c_time2 TIME(2), c_time6 TIME(6), c_year4 YEAR(4)
);
INSERT INTO t_time VALUES (1, '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59.123', '2024-02-29 23:59:59.123456',
  '2024-02-29 23:59:59', '2024-02-29 23:59:59.9', '2024-02-29 23:59:59.999999', '23:59:59', '-12:34:56.78', '838:59:59.000000', 2024);
INSERT INTO t_time VALUES (2, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000', '0000-00-00 00:00:00.000000',
  '0000-00-00 00:00:00', '0000-00-00 00:00:00.0', '0000-00-00 00:00:00.000000', '00:00:00', '00:00:00.00', '-838:59:59.000000', 0);
INSERT INTO t_time VALUES (3, '1000-01-01', '1000-01-01 00:00:00', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999',
  '1970-01-01 00:00:01', '2038-01-19 03:14:07.9', '2038-01-19 03:14:07.999999', '-00:00:01', '00:00:00.01', '-00:00:00.000001', 1901);
INSERT INTO t_time VALUES (4, '2024-01-00', '2024-00-10 10:10:10', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO t_time VALUES (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE t_time SET c_ts6 = '2001-02-03 04:05:06.000007' WHERE id = 1;

CREATE TABLE t_str (
  id INT PRIMARY KEY,
  c_char CHAR(10), c_varchar VARCHAR(64), c_text TEXT, c_tinytext TINYTEXT, c_mediumtext MEDIUMTEXT, c_longtext LONGTEXT,
  c_binary BINARY(8), c_varbinary VARBINARY(64), c_blob BLOB, c_tinyblob TINYBLOB, c_mediumblob MEDIUMBLOB, c_longblob LONGBLOB,
  c_latin1 VARCHAR(16) CHARACTER SET latin1, c_gbk VARCHAR(16) CHARACTER SET gbk, c_bin_coll VARCHAR(16) COLLATE utf8mb4_bin
);
INSERT INTO t_str VALUES (1, 'a', 'hello', 'text', 'tiny', 'medium', 'long',
  x'00', x'00ff80', x'80818283', x'ff', x'', x'7f80',
  x'636166e9', '中文', 'ab ');
INSERT INTO t_str VALUES (2, '', '', '', '', '', '', x'', x'', x'', x'', x'', x'', '', '', '');
INSERT INTO t_str VALUES (3, '😀', '😀 emoji \\ "quote" <tag> & \t\n\r', '多字节 💡', 'ü', 'ß', '\0nul',
  x'f09f9880', x'c3', x'fffefdfc', x'0a0d09', x'22275c', x'e282ac',
  NULL, '𠀀', 'trailing   ');
INSERT INTO t_str VALUES (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE t_str SET c_varbinary = x'8000', c_varchar = 'changed' WHERE id = 1;

CREATE TABLE t_json (id INT PRIMARY KEY, j JSON);
INSERT INTO t_json VALUES (1, '{"b": 1, "a": [1, 2.5, "x", null, true, false], "c": {"d": "e"}}');
INSERT INTO t_json VALUES (2, '[]'), (3, '{}'), (4, 'null'), (5, 'true'), (6, 'false');
INSERT INTO t_json VALUES (7, '-9223372036854775808'), (8, '18446744073709551615'), (9, '3.0'), (10, '1e300'), (11, '"str \\" 😀 <>&"');
INSERT INTO t_json VALUES (12, CAST(CAST('2024-01-02' AS DATE) AS JSON)), (13, CAST(CAST('2024-01-02 03:04:05.678' AS DATETIME(3)) AS JSON));
INSERT INTO t_json VALUES (14, CAST(CAST('12:34:56' AS TIME) AS JSON)), (15, CAST(x'abcd' AS JSON)), (16, NULL);
INSERT INTO t_json VALUES (17, JSON_OBJECT('k', 1.5, 'emoji', '😀', 'nested', JSON_ARRAY(1, JSON_OBJECT())));
UPDATE t_json SET j = JSON_SET(j, '$.b', 2) WHERE id = 1;

CREATE TABLE t_esb (
  id INT PRIMARY KEY,
  c_enum ENUM('a', 'b', 'c'), c_enum_nn ENUM('x', 'y') NOT NULL, c_set SET('a', 'b', 'c', 'd'),
  c_bit1 BIT(1), c_bit5 BIT(5), c_bit64 BIT(64)
);
INSERT INTO t_esb VALUES (1, 'a', 'y', 'a,c', b'1', b'10101', b'1111111111111111111111111111111111111111111111111111111111111111');
INSERT INTO t_esb VALUES (2, 'c', 'x', '', b'0', b'0', b'0');
INSERT INTO t_esb VALUES (3, '', 'x', 'a,b,c,d', NULL, b'11111', x'0102030405060708');
INSERT INTO t_esb VALUES (4, NULL, 'x', NULL, NULL, NULL, NULL);
UPDATE t_esb SET c_set = 'b,d', c_enum = 'b' WHERE id = 1;

CREATE TABLE t_vec (id INT PRIMARY KEY, v VECTOR(3), vf VECTOR);
INSERT INTO t_vec VALUES (1, '[1,2,3]', '[0.5,-1.25,3e-5]'), (2, NULL, '[]');

CREATE TABLE t_gen (
  id INT PRIMARY KEY, a INT, b INT AS (a * 2) VIRTUAL, c INT AS (a + 1) STORED, d VARCHAR(10) DEFAULT 'dflt'
);
INSERT INTO t_gen (id, a) VALUES (1, 10), (2, NULL);
UPDATE t_gen SET a = 11 WHERE id = 1;
