import { memoryPglite } from '../helpers/databases.js';
import { streamSuite } from './stream-suite.js';

streamSuite('PGlite', memoryPglite);
