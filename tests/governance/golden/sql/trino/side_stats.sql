SELECT COUNT(*) AS c0, COUNT("amount") AS c1, MIN("amount") AS c2, MAX("amount") AS c3, NULL AS c4, COUNT("segment name") AS c5, NULL AS c6, NULL AS c7, NULL AS c8 FROM ref
