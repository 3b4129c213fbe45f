/** The tag of an image reference (`repo:tag`, `registry:5000/repo:tag@sha256:…`), or `undefined` when it has none. */
export function imageTag(image: string): string | undefined {
  const name = image.split('@')[0];
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
}

/** Whether every pull of the reference gets the same image: a digest, or a tag other than `latest`. */
export function isPinned(image: string): boolean {
  const tag = imageTag(image);
  return image.includes('@sha256:') || (tag !== undefined && tag !== 'latest');
}
