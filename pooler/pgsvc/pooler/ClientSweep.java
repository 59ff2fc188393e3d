package pgsvc.pooler;

import java.util.ArrayList;

/**
 * The logged-in and logging-in clients of one event loop, walked three times a second for their timeouts. Confined
 * to its loop: no locks, and removal swaps the last client into the freed slot.
 */
final class ClientSweep {
    private final ArrayList<ClientConnection> clients = new ArrayList<>();

    void add(ClientConnection client) {
        client.sweepIndex = clients.size();
        clients.add(client);
    }

    void remove(ClientConnection client) {
        int i = client.sweepIndex;
        if (i < 0) {
            return;
        }
        ClientConnection last = clients.remove(clients.size() - 1);
        if (last != client) {
            clients.set(i, last);
            last.sweepIndex = i;
        }
        client.sweepIndex = -1;
    }

    int size() {
        return clients.size();
    }

    /** A copy of this loop's clients, for the console (SHOW CLIENTS, KILL), taken on this loop. */
    java.util.List<ClientConnection> snapshot() {
        return new ArrayList<>(clients);
    }

    void run(ClientTimeouts timeouts) {
        long now = System.nanoTime();
        // Backwards, so that a client closed and swapped out during the walk is not skipped over.
        for (int i = clients.size() - 1; i >= 0; i--) {
            if (i < clients.size()) {
                clients.get(i).checkTimeouts(now, timeouts);
            }
        }
    }
}
