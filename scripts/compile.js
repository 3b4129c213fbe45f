// Transpiles src/ to dist/ without type-checking, so that synth never waits for tsc or ts-node; `npm run typecheck`
// checks types (tsc --noEmit). Only files whose content changed since the last run are transpiled, by esbuild's
// native binary (~20 ms; its JavaScript API costs ~100 ms more to start), so an unchanged tree costs a few hashes.
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const srcDir = path.join(root, 'src');
const distDir = path.join(root, 'dist');
const stateFile = path.join(distDir, '.compiled.json');
const ESBUILD_ARGS = ['--outbase=src', '--outdir=dist', '--platform=node', '--format=cjs', '--target=node20', '--sourcemap', '--log-level=warning'];

function sources(dir = srcDir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    return entry.isDirectory() ? sources(file) : entry.name.endsWith('.ts') ? [path.relative(root, file)] : [];
  });
}

function esbuildBinary() {
  try {
    return require.resolve(`@esbuild/${process.platform}-${process.arch}/bin/esbuild`);
  } catch {
    return undefined;
  }
}

function transpile(files) {
  const binary = esbuildBinary();
  if (binary) {
    execFileSync(binary, [...files, ...ESBUILD_ARGS], { cwd: root, stdio: 'inherit' });
    return;
  }
  require('esbuild').buildSync({
    absWorkingDir: root,
    entryPoints: files,
    outbase: 'src',
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
}

function compile() {
  const previous = fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, 'utf8')) : {};
  const current = Object.fromEntries(sources().map((file) => [file, createHash('sha256').update(fs.readFileSync(path.join(root, file))).digest('hex')]));
  const output = (file) => path.join(distDir, path.relative('src', file).replace(/\.ts$/, '.js'));
  const changed = Object.keys(current).filter((file) => previous[file] !== current[file] || !fs.existsSync(output(file)));
  if (changed.length > 0) {
    transpile(changed);
  }
  for (const file of Object.keys(previous).filter((f) => !(f in current))) {
    fs.rmSync(output(file), { force: true });
    fs.rmSync(`${output(file)}.map`, { force: true });
  }
  fs.mkdirSync(distDir, { recursive: true });
  fs.writeFileSync(stateFile, JSON.stringify(current, null, 2));
}

module.exports = { compile };

if (require.main === module) {
  compile();
}
