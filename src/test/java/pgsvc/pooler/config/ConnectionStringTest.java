package pgsvc.pooler.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class ConnectionStringTest {
    private static String problem(String text) {
        return assertThrows(IllegalArgumentException.class, () -> ConnectionString.parse(text)).getMessage();
    }

    @Test
    void barePairsInOrder() {
        Map<String, String> m = ConnectionString.parse("host=/var/run/postgresql  port=5433\tdbname=app");
        assertEquals(List.of("host", "port", "dbname"), new ArrayList<>(m.keySet()));
        assertEquals("/var/run/postgresql", m.get("host"));
        assertEquals("5433", m.get("port"));
        assertEquals("app", m.get("dbname"));
    }

    @Test
    void quotedValuesKeepSpacesAndDoubledQuotes() {
        Map<String, String> m = ConnectionString.parse(
                "connect_query='SELECT ''a b''; SELECT 1' password=''' ''' user=x");
        assertEquals("SELECT 'a b'; SELECT 1", m.get("connect_query"));
        assertEquals("' '", m.get("password"));
        assertEquals("x", m.get("user"));
    }

    @Test
    void blanksAroundEqualsAreSkipped() {
        Map<String, String> m = ConnectionString.parse("  host = a   port= 1 ");
        assertEquals(Map.of("host", "a", "port", "1"), m);
    }

    @Test
    void blankAfterEqualsIsSkippedSoAMissingValueTakesTheNextPairAsPgBouncerDoes() {
        assertEquals(Map.of("password", "user=x"), ConnectionString.parse("password= user=x"));
    }

    @Test
    void emptyStringHasNoPairs() {
        assertEquals(Map.of(), ConnectionString.parse(""));
        assertEquals(Map.of(), ConnectionString.parse("   "));
    }

    @Test
    void doubleQuotesAreOrdinaryCharacters() {
        assertEquals("\"mydb\"", ConnectionString.parse("dbname=\"mydb\"").get("dbname"));
        // So a libpq-style double-quoted value with a blank splits, and the rest is a key without "=".
        assertEquals("syntax error in connection string: expected \"=\" after \"db\"\"", problem("dbname=\"my db\""));
    }

    @Test
    void laterDuplicateWins() {
        Map<String, String> m = ConnectionString.parse("port=1 host=a port=2");
        assertEquals("2", m.get("port"));
        assertEquals(List.of("port", "host"), new ArrayList<>(m.keySet()));
    }

    @Test
    void errorsArePrecise() {
        assertEquals("syntax error in connection string: empty value for \"host\"", problem("host="));
        assertEquals("syntax error in connection string: empty value for \"host\"", problem("host='' port=1"));
        assertEquals("syntax error in connection string: unterminated quoted value for \"connect_query\"",
                problem("connect_query='select 1"));
        assertEquals("syntax error in connection string: expected \"=\" after \"host\"", problem("host a"));
        assertEquals("syntax error in connection string: expected \"=\" after \"host\"", problem("host"));
        assertEquals("syntax error in connection string: missing parameter name before \"=\"", problem("=x"));
        assertEquals("syntax error in connection string: expected a blank after the quoted value of \"host\"",
                problem("host='a'port=1"));
    }

    @Test
    void quoteRoundTrips() {
        String value = "it's a 'test'";
        assertEquals(value, ConnectionString.parse("x=" + ConnectionString.quote(value)).get("x"));
    }

    @Test
    void entryParsersRejectUnknownKeys() {
        assertEquals("unrecognized connection parameter: sslmode",
                assertThrows(IllegalArgumentException.class,
                        () -> DatabaseEntry.parse("d", "host=a sslmode=require")).getMessage());
        assertEquals("unrecognized user parameter: host",
                assertThrows(IllegalArgumentException.class, () -> UserEntry.parse("u", "host=a")).getMessage());
        assertEquals("unrecognized connection parameter: dbname",
                assertThrows(IllegalArgumentException.class, () -> PeerEntry.parse("1", "host=a dbname=x"))
                        .getMessage());
    }

    @Test
    void reservePoolSpellingsAndHostLists() {
        assertEquals(5, DatabaseEntry.parse("d", "reserve_pool=5").reservePoolSize());
        assertEquals(6, DatabaseEntry.parse("d", "reserve_pool_size=6").reservePoolSize());
        assertEquals(List.of("a", "b", "/tmp"), DatabaseEntry.parse("d", "host=a,b,/tmp").hosts());
        assertEquals("invalid host list: \"a,,b\" has an empty entry",
                assertThrows(IllegalArgumentException.class, () -> DatabaseEntry.parse("d", "host=a,,b"))
                        .getMessage());
        assertEquals("invalid port: 0",
                assertThrows(IllegalArgumentException.class, () -> DatabaseEntry.parse("d", "port=0")).getMessage());
    }
}
