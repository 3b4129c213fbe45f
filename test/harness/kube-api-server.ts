// The stand-in Kubernetes API (fake-kube-api.ts) as a process of its own, for the node agent's Python tests: the
// same stand-in as the TypeScript labs use. Started by scripts/kube-api-standin.js with its options as JSON in
// argv[2]; prints `{"url": …, "control": …}` on one line, then serves the API on `url` and, on `control`, what a
// test reads and changes directly:
//   GET /requests, GET /objects (the Ban records; ?resource=operatorbans or fail2bannodes: those), POST /inject (an
//   object, stored unchecked in the collection of its kind), POST /expire ({"remove": [names], "resource": "bans"}),
//   POST /expired-as-status ({"on": true}), POST /reset (empty again, for the next test).
// It exits when its standard input closes, so that it never outlives the test that started it.
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { FakeKubeApi, FakeKubeApiOptions, Resource } from './fake-kube-api';

async function main(): Promise<void> {
  const api = await FakeKubeApi.start(JSON.parse(process.argv[2]) as FakeKubeApiOptions);
  const control = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const input = body ? JSON.parse(body) : {};
      const answer = (value: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value ?? null));
      };
      const url = new URL(req.url ?? '/', 'http://localhost');
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /requests':
          return answer(api.requests.filter((r) => !r.fromTest));
        case 'GET /objects':
          return answer(Object.fromEntries(api.objectsOf((url.searchParams.get('resource') ?? 'bans') as Resource)));
        case 'POST /inject':
          return answer(api.inject(input));
        case 'POST /expire':
          return answer(api.expire(input.remove ?? [], input.resource ?? 'bans'));
        case 'POST /reset':
          return answer(api.reset());
        case 'POST /expired-as-status':
          api.expiredAsStatus = Boolean(input.on);
          return answer(api.expiredAsStatus);
        default:
          res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ url: api.url, control: `http://127.0.0.1:${(control.address() as AddressInfo).port}` })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
