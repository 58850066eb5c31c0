// Stands in for ssh2 in the esbuild bundle: Grapevine reaches Docker over the engine's Unix
// socket only, so dockerode's SSH transport, and the native addons ssh2 loads, stay out.
class Client {
  constructor() {
    throw new Error('Docker over SSH is not supported: point dockerSocket at the engine\'s Unix socket');
  }
}
module.exports = { Client };
