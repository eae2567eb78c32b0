-- InnoDB leaves its default stopwords (the, for, with, will, com, www, ...) out of a FULLTEXT
-- index, and a query that requires one of them (`+will*`) then matches nothing: the e-mail
-- `will@example.com` and the name "Will" were never found, while SQLite found both. The index is
-- made again without a stopword list: InnoDB reads the setting when it creates an index, and a
-- session setting touches only this migration's connection, which gets its own value back.
SET @ft_stopword = @@SESSION.innodb_ft_enable_stopword;
SET SESSION innodb_ft_enable_stopword = OFF;
ALTER TABLE policy_search DROP INDEX policy_search_text;
ALTER TABLE policy_search ADD FULLTEXT INDEX policy_search_text (number, insured_name, email, notes, status);
SET SESSION innodb_ft_enable_stopword = @ft_stopword;
