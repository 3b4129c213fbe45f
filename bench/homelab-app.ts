// The homelab app bundled like bench/large-app.ts, so that the two differ only in their configuration.
import { main } from '../src/main';

main();
