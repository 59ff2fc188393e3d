package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The comparison of a client's tracked values with a server's at each hand-off, and the shared value instances. */
class TrackedParamsUnitTest {
    private final TrackedParams params = new TrackedParams(List.of());

    @Test
    void equalValuesShareOneInstance() {
        String a = params.canonical(new String("UTF8"));
        String b = params.canonical(new String("UTF8"));
        assertSame(a, b);
        assertEquals("UTF8", a);
        assertNull(params.canonical(null));
        assertNotSame(a, params.canonical(new String("utf8")),
                "case is kept: the value is replayed as the client set it");
    }

    @Test
    void setStatementsOnlyWhereTheValuesDiffer() {
        String[] client = params.newValues();
        String[] server = params.newValues();
        int encoding = params.indexOf("client_encoding");
        int zone = params.indexOf("TimeZone");
        int app = params.indexOf("application_name");
        client[encoding] = params.canonical("UTF8");
        server[encoding] = params.canonical(new String("UTF8"));
        client[zone] = "utc";
        server[zone] = "UTC";
        assertNull(params.setStatements(client, server), "same instance, and equal but for case");

        client[app] = "it's";
        assertEquals("SET application_name='it''s';", params.setStatements(client, server));
        server[app] = "other";
        client[zone] = "Europe/Paris";
        assertEquals("SET TimeZone='Europe/Paris';SET application_name='it''s';",
                params.setStatements(client, server));
    }

    @Test
    void pastItsLimitAValueIsKeptAsItIs() {
        for (int i = 0; i < 5000; i++) {
            params.canonical("app-" + i);
        }
        String late = new String("late");
        assertSame(late, params.canonical(late));
        assertSame(params.canonical("app-1"), params.canonical(new String("app-1")), "earlier values stay shared");
        String[] client = params.newValues();
        String[] server = params.newValues();
        client[params.indexOf("application_name")] = late;
        server[params.indexOf("application_name")] = new String("LATE");
        assertNull(params.setStatements(client, server), "an unshared value is still compared by its text");
    }
}
